"""One training run, one version: the model a run reads pins the rest of its run.

Every versioned dataset a training run writes (the model artifact, the tuning,
selection and test results, the test predictions) is saved under the run's one
save version. A run that *reads* the model without training it (``kedro run
--pipelines=reporting``, with or without ``--load-versions=purchase_model:V``)
should therefore read that model's run too, not the latest run's: this hook
gives every other versioned dataset the run reads the model's version (the one
asked for, else the current one: the registry's champion), unless the command
line names one for it; the registry gate's decision is one of them, so an old
version's card says what its own gate decided. A Kedro hook, Kedro's extension point for the catalog.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import Version
from kedro.pipeline import Pipeline

from customer_purchase_prediction.artifact import MODEL_DATASET, ModelArtifactDataset
from customer_purchase_prediction.errors import ModelNotFoundError

logger = logging.getLogger(__name__)


class PinTrainingRunVersions:
    """Load a training run's versioned datasets at the version of its model."""

    def __init__(self) -> None:
        self._versioned: list[str] = []
        self._explicit: dict[str, str] = {}
        self._save_version: str | None = None

    @hook_impl
    def after_catalog_created(
        self,
        conf_catalog: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str] | None,
    ) -> None:
        """Note the versioned datasets and the versions the command line named."""
        self._versioned = [
            name
            for name, config in conf_catalog.items()
            if isinstance(config, dict)
            and config.get("versioned")
            and name != MODEL_DATASET
        ]
        self._explicit = dict(load_versions or {})
        self._save_version = save_version

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Pin the siblings this run reads to the version of the model it reads."""
        reads = pipeline.inputs()
        if MODEL_DATASET not in reads:
            return  # the run trains its own model, or does not use one
        pinned = self._explicit.get(MODEL_DATASET) or _current_version(catalog)
        if pinned is None:
            return  # loading the model will say there is none
        siblings = [
            name
            for name in self._versioned
            if name in reads and name not in self._explicit
        ]
        for name in siblings:
            catalog[name] = catalog.get(
                name, version=Version(pinned, self._save_version)
            )
        if siblings:
            logger.info(
                "Loading %s at version %s, the version of %s",
                ", ".join(siblings),
                pinned,
                MODEL_DATASET,
            )


def _current_version(catalog: Any) -> str | None:
    dataset = catalog.get(MODEL_DATASET)
    if not isinstance(dataset, ModelArtifactDataset):
        return None
    try:
        return dataset.resolve_load_version()
    except ModelNotFoundError:
        return None
