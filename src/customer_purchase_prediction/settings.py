"""Project settings: Kedro defaults except for how configuration merges, and hooks.

Parameters merge softly across environments: ``conf/test`` or ``conf/prod`` (or a
personal ``conf/local``) override single keys, not whole sections. A training run
records its model as the current one and ends with one line naming the chosen
model and the reports (``hooks.py``); a run that reads the model reads the rest of
that model's training run too (``run_versions.py``). Training runs are tracked
with kedro-mlflow and their models registered (``tracking.py``).
"""

from __future__ import annotations

from kedro.config import OmegaConfigLoader

from customer_purchase_prediction.drift_hooks import FailOnDrift
from customer_purchase_prediction.hooks import (
    ProvideRunId,
    RecordCurrentModel,
    RetireStaleSummary,
    RunSummaryHooks,
)
from customer_purchase_prediction.monitoring_tracking import RealisedTracking
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.registry import TRACKING_RESOLVERS
from customer_purchase_prediction.run_checks import RunChecks
from customer_purchase_prediction.run_versions import PinTrainingRunVersions
from customer_purchase_prediction.scale_out import DaskCluster
from customer_purchase_prediction.tracking import TrackingHooks

# RunChecks (tryfirst) stops a run on a bad --params value or output path
# before the other hooks act.
HOOKS = (
    RunSummaryHooks(),
    RecordCurrentModel(),
    ProvideRunId(),
    RetireStaleSummary(),
    PinTrainingRunVersions(),
    RunChecks(),
    TrackingHooks(),  # kedro-mlflow, the store checked first; registers the model
    DaskCluster(),  # --env=dask: joins or starts the Dask cluster (scale_out.py)
    FailOnDrift(),  # monitoring.fail_on: a drifted batch fails the run, after writing
    RealisedTracking(),  # monitoring: realised metrics on the model's registry version
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
    # ${beside_output:...} in the catalog: rejects and summary beside the output.
    # ${tracking_uri:...} in mlflow.yml: MLFLOW_TRACKING_URI first.
    "custom_resolvers": {**CATALOG_RESOLVERS, **TRACKING_RESOLVERS},
}

# kedro-mlflow's hook runs inside TrackingHooks (registered above), which first
# checks that the tracking store can be written and honours tracking.required;
# the instance kedro-mlflow registers by its entry point would track the run a
# second time, unchecked, so that one stays off.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")
