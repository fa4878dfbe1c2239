"""Project hooks: a successful training run records its model as the current one,
and ends with one line on what it chose and where to read; every run gets a
``run_id`` that its outputs share."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.artifact import MODEL_DATASET, ModelArtifactDataset
from customer_purchase_prediction.atomic_datasets import JSONDataset
from customer_purchase_prediction.pipelines.inference.nodes import RUN_ID
from customer_purchase_prediction.registry import CHAMPION, RegistryCurrentModel

DECISION_DATASET = "registry_decision"

logger = logging.getLogger(__name__)

SUMMARY_DATASET = "inference_summary"
# The reports a reader opens first, by file name, in the order they are named.
REPORT_FILES = ("model_card.md", "report.html")


def run_summary(model: Any, reports: Iterable[str] = ()) -> str:
    """``"Selected <model>: test <metric> <value>; reports: <paths>"``."""
    metric = model.metadata["selection_metric"]
    value = float(model.metadata["test"][metric])
    summary = f"Selected {model.name}: test {metric} {value:.4f}"
    paths = ", ".join(reports)
    return f"{summary}; reports: {paths}" if paths else summary


def report_paths(
    catalog_config: Mapping[str, Mapping[str, Any]],
    written: Iterable[str],
    project_path: str | Path | None = None,
) -> list[str]:
    """The files among ``REPORT_FILES`` that the datasets in ``written`` save to.

    Args:
        catalog_config: Dataset configurations, as ``DataCatalog.to_config`` gives.
        written: The datasets the run wrote.
        project_path: Paths under it are shown relative to it.
    """
    found: dict[str, str] = {}
    for name in written:
        config = catalog_config.get(name) or {}
        # A dataset class without its own __init__ records its arguments as kwargs.
        filepath = config.get("filepath") or (config.get("kwargs") or {}).get(
            "filepath"
        )
        if filepath is None or PurePosixPath(str(filepath)).name not in REPORT_FILES:
            continue
        path = Path(str(filepath))
        if project_path is not None and path.is_relative_to(project_path):
            path = path.relative_to(project_path)
        found[path.name] = path.as_posix()
    return [found[name] for name in REPORT_FILES if name in found]


class RunSummaryHooks:
    """After a run that wrote the model artifact, logs one closing summary line."""

    def __init__(self) -> None:
        self._model: Any = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Forget the model of an earlier run in this process."""
        self._model = None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep the model artifact as it is saved, so as not to load it again."""
        if dataset_name == MODEL_DATASET:
            self._model = data

    @hook_impl
    def after_pipeline_run(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol,
    ) -> None:
        """Log the summary if this run wrote the model; never fail the run."""
        written = pipeline.all_outputs()
        if MODEL_DATASET not in written:
            return
        try:
            # ParallelRunner saves in worker processes, whose hooks are not these.
            model = self._model
            if model is None:
                model = catalog.load(MODEL_DATASET)
            config = catalog.to_config()[0]  # type: ignore[attr-defined]
            reports = report_paths(config, written, run_params.get("project_path"))
            logger.info("%s", run_summary(model, reports))
        except Exception as exc:  # the run itself has succeeded
            logger.warning("No run summary: %s: %s", type(exc).__name__, exc)
        finally:
            self._model = None


class RecordCurrentModel:
    """Untracked, a training run records its model as current once it succeeded.

    With the registry (``tracking.py``) the ``champion`` alias is the current
    model and ``TrackingHooks`` sets it; this hook then does nothing. Without
    one (``tracking.required: false`` and no store), the manifest is the record
    (``manifest.CurrentModelSource``) and the gate still decides: a model the
    gate made ``challenger`` is kept, not made current. Kedro calls
    ``after_pipeline_run`` only when every node succeeded, so a run that fails
    midway leaves the previous current model in place.
    """

    def __init__(self) -> None:
        self._decision: Mapping[str, Any] | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Forget an earlier run's gate decision."""
        self._decision = None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep the gate's decision as it is saved."""
        if dataset_name == DECISION_DATASET:
            self._decision = data

    @hook_impl
    def after_pipeline_run(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol,
    ) -> None:
        """Record the model this run saved as current, unless the gate kept it out."""
        decision, self._decision = self._decision, None
        if MODEL_DATASET not in pipeline.all_outputs():
            return
        dataset = catalog.get(MODEL_DATASET)  # type: ignore[attr-defined]
        if not isinstance(dataset, ModelArtifactDataset):
            return
        if isinstance(dataset.current_source, RegistryCurrentModel):
            return  # TrackingHooks sets the registry's alias
        if decision is not None and decision.get("alias") != CHAMPION:
            logger.info("Current model unchanged: %s", decision.get("reason"))
            return
        run_id = run_params.get("run_id") or run_params.get("session_id")
        dataset.make_current(reason=f"training run {run_id} succeeded")


class ProvideRunId:
    """Every run's ``run_id`` input: the Kedro session id, which is also the
    version under which a training run saves its versioned datasets.

    The inference pipeline marks its predictions, rejects and summary with it,
    so that files of different runs can never be mistaken for one run's.
    """

    @hook_impl
    def after_catalog_created(
        self, catalog: CatalogProtocol, save_version: str
    ) -> None:
        """Make ``run_id`` a dataset of this run's catalog."""
        catalog[RUN_ID] = MemoryDataset(save_version)  # type: ignore[index]


class RetireStaleSummary:
    """A run summary exists only beside the files it describes.

    The inference pipeline's last node returns the predictions, the rejects and
    the summary, which Kedro saves in that order, each file renamed into place
    whole. Just before the first of them is saved, the previous run's summary is
    removed: a ``kill -9`` between two saves then leaves files without a
    summary (an unfinished run), never a summary that describes other files.
    """

    def __init__(self) -> None:
        self._catalog: Any = None
        self._retired = False

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Keep the run's catalog, to reach the summary dataset."""
        self._catalog = catalog
        self._retired = False

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Before the summary's node saves its first output, remove the old summary."""
        if self._retired or SUMMARY_DATASET not in node.outputs:
            return
        if dataset_name == SUMMARY_DATASET or self._catalog is None:
            return
        summary = self._catalog.get(SUMMARY_DATASET)
        if isinstance(summary, JSONDataset):
            summary.discard()
        self._retired = True
