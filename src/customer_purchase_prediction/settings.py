"""Project settings: Kedro defaults except for how configuration merges.

Parameters merge softly across environments: ``conf/test`` or ``conf/prod`` (or a
personal ``conf/local``) override single keys, not whole sections.
"""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}
