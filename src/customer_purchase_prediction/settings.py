"""Project settings: Kedro defaults except for how configuration merges, and hooks.

Parameters merge softly across environments: ``conf/test`` or ``conf/prod`` (or a
personal ``conf/local``) override single keys, not whole sections. A training run
records its model as the current one and ends with one line naming the chosen
model and the reports (``hooks.py``); a run that reads the model reads the rest of
that model's training run too (``run_versions.py``).
"""

from __future__ import annotations

from kedro.config import OmegaConfigLoader

from customer_purchase_prediction.hooks import (
    ProvideRunId,
    RecordCurrentModel,
    RetireStaleSummary,
    RunSummaryHooks,
)
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.run_checks import RunChecks
from customer_purchase_prediction.run_versions import PinTrainingRunVersions

# RunChecks (tryfirst) stops a run on a bad --params value or output path
# before the other hooks act.
HOOKS = (
    RunSummaryHooks(),
    RecordCurrentModel(),
    ProvideRunId(),
    RetireStaleSummary(),
    PinTrainingRunVersions(),
    RunChecks(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
    # ${beside_output:...} in the catalog: rejects and summary beside the output.
    "custom_resolvers": CATALOG_RESOLVERS,
}

# kedro-mlflow registers its hooks itself when installed; until the project's
# tracking configuration (issue 13) is in place they stay off, so no run writes
# an mlruns/ folder nobody asked for.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")
