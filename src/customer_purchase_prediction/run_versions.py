"""One training run, one version: pinning the model pins the rest of its run.

Every versioned dataset a training run writes (the model artifact, the tuning,
selection and test results, the test predictions) is saved under the run's one
save version. ``kedro run --pipelines=reporting --load-versions=purchase_model:V``
should therefore read *that* run's results too, not the latest run's: this hook
gives every other versioned dataset the model's load version, unless the command
line names one for it. A Kedro hook, Kedro's extension point for the catalog.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import Version

logger = logging.getLogger(__name__)

MODEL_DATASET = "purchase_model"


class PinTrainingRunVersions:
    """Load a training run's versioned datasets at the version of its model."""

    @hook_impl
    def after_catalog_created(
        self,
        catalog: Any,
        conf_catalog: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str] | None,
    ) -> None:
        """Give the run's other versioned datasets the model's load version."""
        pinned = (load_versions or {}).get(MODEL_DATASET)
        if not pinned:
            return
        siblings = [
            name
            for name, config in conf_catalog.items()
            if isinstance(config, dict)
            and config.get("versioned")
            and name != MODEL_DATASET
            and name not in load_versions
        ]
        for name in siblings:
            catalog[name] = catalog.get(name, version=Version(pinned, save_version))
        if siblings:
            logger.info(
                "Loading %s at version %s, the version of %s",
                ", ".join(siblings),
                pinned,
                MODEL_DATASET,
            )
