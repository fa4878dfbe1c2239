"""Project settings: Kedro defaults except for how configuration merges, and hooks.

Parameters merge softly across environments: ``conf/test`` or ``conf/prod`` (or a
personal ``conf/local``) override single keys, not whole sections. A training run
ends with one line naming the chosen model and the reports (``hooks.py``).
"""

from __future__ import annotations

from kedro.config import OmegaConfigLoader

from customer_purchase_prediction.hooks import RunSummaryHooks

HOOKS = (RunSummaryHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}
