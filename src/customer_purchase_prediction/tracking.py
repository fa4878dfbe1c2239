"""Experiment tracking with kedro-mlflow, and registration once a run succeeded.

``TrackingHooks`` is the project's one tracking hook. It checks that the store
``conf/base/mlflow.yml`` names (``sqlite:///mlflow.db`` beside the project, its
artifacts in ``mlartifacts/``; ``MLFLOW_TRACKING_URI`` or ``conf/local/mlflow.yml``
for a server) can be written, then hands the run to kedro-mlflow's own
``MlflowHook`` (which opens the MLflow run, logs the parameters the nodes read
and closes it). A store that cannot be written stops the run before any node,
in one message, unless ``tracking.required: false``: then a warning, and the
run trains untracked and unregistered. Required is the default because a
model nobody can trace back to its run is what this tracking exists to avoid.

After a training run succeeded it logs all parameters (flattened), the data
fingerprint and row counts, the CV and test metrics of every candidate and the
selected model's, the reports, and the model itself (an MLflow pyfunc whose one
artifact is the skops file, with a signature from the column spec and an input
example), registers it as a new version of ``purchase-model`` and sets its
alias as the gate decided (``registry.py``). kedro-mlflow's hook is registered
through this class, not by its plugin entry point (``settings.py``), so that
the check comes first and an untracked run reaches it not at all.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import kedro.framework.project  # noqa: F401 - sets up logging before the import below
import mlflow
import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from pydantic import BaseModel, ValidationError

from customer_purchase_prediction.artifact import (
    MODEL_DATASET,
    ModelArtifactDataset,
    load_artifact_file,
)
from customer_purchase_prediction.columns import BY_NAME, ID_COLUMN, SESSION_COLUMNS
from customer_purchase_prediction.hooks import DECISION_DATASET
from customer_purchase_prediction.registry import (
    ARTIFACT_TAG,
    CHAMPION,
    KEDRO_VERSION_TAG,
    MLFLOW_PATTERNS,
    SHA256_TAG,
    TRACKING_SECTION,
    TRACKING_URI_VARIABLE,
    ModelRegistry,
    RegistryCurrentModel,
    TrackingError,
    TrackingParams,
    absolute_uri,
    registry_uri,
    tracking_uri,
)

# kedro-mlflow's KedroPipelineModel (a pyfunc without type hints, which this
# project does not use) makes MLflow warn "Add type hints to the `predict`
# method" when it is imported. MLflow raises that warning inside its own
# catch_warnings(simplefilter("once")), which overrides any filter set here, so
# the import is recorded instead and every other warning shown again.
with warnings.catch_warnings(record=True) as _caught:
    from kedro_mlflow.framework.hooks import MlflowHook
for _warning in _caught:
    if "Add type hints to the `predict` method" not in str(_warning.message):
        warnings.warn_explicit(
            _warning.message, _warning.category, _warning.filename, _warning.lineno
        )

logger = logging.getLogger(__name__)

# `mlflow ui` / `kedro mlflow ui` (a child of this process) otherwise leaves
# job-runner workers behind when it stops (MLflow 3).
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")

LOGGED_MODEL_NAME = "purchase_model"
# The datasets whose current model is the registry's champion.
MODEL_DATASETS = (MODEL_DATASET, "champion_model")
REPORTING_LAYER = "reporting"
# What the after_pipeline_run log needs of a training run, kept as it is saved.
KEPT = (MODEL_DATASET, DECISION_DATASET, "test_metrics", "candidate_tuning")
_MLFLOW_TYPES = {"integer": "long", "float": "double", "label": "string"}


def store_problem(uri: str, artifacts: str | None, timeout: float) -> str | None:
    """Why the tracking store at ``uri`` cannot be written, or ``None``.

    A local store (SQLite file, folder) is probed by writing a file beside it;
    a server by opening a connection within ``timeout`` seconds.
    """
    parsed = urlparse(uri)
    if parsed.scheme in {"http", "https"}:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout):
                pass
        except OSError as exc:
            return (
                f"the tracking server {uri} does not answer within {timeout:g} s "
                f"({type(exc).__name__}: {exc})"
            )
        return None
    folders = []
    if parsed.scheme == "sqlite":
        folders.append(Path(uri[len("sqlite:///") :]).parent)
    elif parsed.scheme in {"", "file"}:
        folders.append(Path(parsed.path))
    if artifacts and urlparse(artifacts).scheme in {"", "file"}:
        folders.append(Path(urlparse(artifacts).path))
    for folder in folders:
        problem = _folder_problem(folder)
        if problem:
            return f"the tracking store {uri} cannot be written: {problem}"
    return None


def _folder_problem(folder: Path) -> str | None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mlflow-probe-"):
            pass
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror or exc})"
    return None


def model_signature() -> Any:
    """The logged model's signature: the session columns in, a probability out."""
    from mlflow.models import ModelSignature  # noqa: PLC0415
    from mlflow.types import ColSpec, Schema  # noqa: PLC0415

    inputs = Schema(
        [
            ColSpec(_MLFLOW_TYPES[BY_NAME[name].kind], name, required=name == ID_COLUMN)
            for name in SESSION_COLUMNS
        ]
    )
    outputs = Schema(
        [
            ColSpec("long", ID_COLUMN),
            ColSpec("long", "purchase_prediction"),
            ColSpec("double", "purchase_probability"),
            ColSpec("string", "prediction_confidence"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example() -> Any:
    """One session made of each column's example value (``columns.example_record``)."""
    from customer_purchase_prediction.columns import example_record  # noqa: PLC0415

    return pd.DataFrame([example_record()])


class PurchaseModelPyfunc(mlflow.pyfunc.PythonModel):
    """The registered model for MLflow's tools: the skops artifact, hash checked.

    Its one artifact is the file training saved; it is loaded with the same
    trusted types and SHA-256 check as everywhere else in the project.
    """

    def load_context(self, context: Any) -> None:
        """Load the skops file, refusing it unless its SHA-256 is the recorded one."""
        self.model = load_artifact_file(
            context.artifacts["artifact"],
            expected_sha256=context.model_config[SHA256_TAG],
        )

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predictions of validated sessions, as ``PurchasePredictor`` gives them."""
        from customer_purchase_prediction.predictor import (  # noqa: PLC0415
            PurchasePredictor,
        )

        frame = pd.DataFrame(model_input)
        return (
            PurchasePredictor(self.model)
            .predict(frame, return_probabilities=True)
            .predictions
        )


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as ``a.b.c`` keys (lists and scalars as they are).

    Typed parameters (pydantic models, as Kedro gives validated ones) are
    flattened by their fields.
    """
    flat: dict[str, Any] = {}
    for key, given in values.items():
        name = f"{prefix}{key}"
        value = given.model_dump(mode="json") if isinstance(given, BaseModel) else given
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def training_metrics(kept: Mapping[str, Any]) -> dict[str, float]:
    """CV and test metrics of every candidate, and the selected model's."""
    metrics: dict[str, float] = {}
    tuning = kept.get("candidate_tuning")
    for name in tuning or {}:
        for metric, stats in tuning[name].cv_dict().items():
            for stat, value in stats.items():
                metrics[f"cv.{name}.{metric}.{stat}"] = value
    test = kept.get("test_metrics")
    for name in test or {}:
        for metric, value in test[name].items():
            metrics[f"test.{name}.{metric}"] = value
    model = kept[MODEL_DATASET]
    for metric, value in (model.metadata.get("test") or {}).items():
        metrics[f"selected.test.{metric}"] = value
    metrics["selected.threshold"] = model.threshold
    metrics["training_rows"] = model.metadata.get("training_rows")
    quality = model.metadata.get("data_quality") or {}
    for key in ("rows_in", "rows_kept", "rows_rejected"):
        if isinstance(quality.get(key), int | float):
            metrics[f"data.{key}"] = quality[key]
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not math.isnan(float(value))
    }


def report_files(
    catalog_config: Mapping[str, Any], written: set[str]
) -> Iterator[Path]:
    """The files of the reporting datasets this run wrote."""
    for name in sorted(written):
        config = catalog_config.get(name) or {}
        # A dataset class without its own __init__ records its arguments as kwargs.
        kwargs = config.get("kwargs") or {}
        metadata = config.get("metadata") or kwargs.get("metadata") or {}
        layer = (metadata.get("kedro-viz") or {}).get("layer")
        filepath = config.get("filepath") or kwargs.get("filepath")
        if layer == REPORTING_LAYER and filepath and Path(str(filepath)).is_file():
            yield Path(str(filepath))


class TrackingHooks:
    """Check the store, let kedro-mlflow track the run, register its model."""

    def __init__(self) -> None:
        self._mlflow = MlflowHook()
        self._params = TrackingParams()
        self._problem: str | None = None
        self._tracked = False
        self._parameters: dict[str, Any] = {}
        self._kept: dict[str, Any] = {}
        self.registry: ModelRegistry | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Check the store; if it can be written, let kedro-mlflow set up."""
        self._parameters = dict(context.params or {})
        self._params = _tracking_params(self._parameters)
        self._tracked, self.registry, self._problem = False, None, None
        loader = context.config_loader
        loader.config_patterns.setdefault("mlflow", MLFLOW_PATTERNS)
        try:
            config = dict(loader["mlflow"])
        except MissingConfigException:
            config = {}
        root = Path(context.project_path)
        uri = tracking_uri(config, root)
        artifacts = _artifact_location(config)
        artifacts = absolute_uri(artifacts, root) if artifacts else None
        self._problem = store_problem(uri, artifacts, self._params.timeout_seconds)
        if self._problem is None:
            # A new one per session: it keeps the last run's id, which a later
            # session in this process (another store, maybe) would re-enter.
            self._mlflow = MlflowHook()
            given = os.environ.get(TRACKING_URI_VARIABLE)
            # kedro-mlflow logs into an MLflow run already active in the process
            # and then ignores mlflow.yml: this run would go to that run's store
            # while the registry is this project's. A run left open by an
            # earlier session (or code around it) is ended, and said so.
            while (stale := mlflow.active_run()) is not None:
                logger.warning(
                    "MLflow run %s was still active when this session started; "
                    "ended, so this session tracks into %s",
                    stale.info.run_id,
                    uri,
                )
                mlflow.end_run()
            # kedro-mlflow resolves a relative sqlite:/// URI against the working
            # folder, not the project: while it sets up, ${tracking_uri:...}
            # gives it this project's absolute URI (the variable comes first).
            os.environ[TRACKING_URI_VARIABLE] = uri
            self._mlflow.after_context_created(context)
            # mlflow.set_tracking_uri (called by kedro-mlflow's set-up) also
            # writes MLFLOW_TRACKING_URI; the variable stays the user's, or a
            # later session in this process would track into this project's
            # store. MLflow's own in-process setting keeps this run's store.
            if given is None:
                os.environ.pop(TRACKING_URI_VARIABLE, None)
            else:
                os.environ[TRACKING_URI_VARIABLE] = given
            self._tracked = True
            self.registry = ModelRegistry(uri, registry_uri(config, root))
        elif not self._params.required:
            logger.warning(
                "%s; training untracked and unregistered (tracking.required is false)",
                self._problem,
            )

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Let the model datasets use the registry's champion as the current model."""
        if self.registry is None:
            return
        for name in MODEL_DATASETS:
            dataset = catalog.get(name) if name in catalog else None
            if isinstance(dataset, ModelArtifactDataset):
                dataset.use_current_source(
                    RegistryCurrentModel(self.registry, dataset.manifest)
                )

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Stop before any node if the store is required and cannot be written."""
        self._kept = {}
        if self._problem is not None and self._params.required:
            raise TrackingError(
                f"{self._problem}. Fix it, point MLFLOW_TRACKING_URI (or "
                "server.mlflow_tracking_uri in conf/local/mlflow.yml) at a store "
                "that can be written, or train untracked with "
                "--params=tracking.required=false"
            )
        if not self._tracked:
            return
        self._mlflow.before_pipeline_run(run_params, pipeline, catalog)
        if MODEL_DATASET in pipeline.all_outputs() and mlflow.active_run():
            parameters = flatten(self._parameters)
            mlflow.log_params(
                {key: str(value)[:6000] for key, value in parameters.items()}
            )

    @hook_impl
    def before_node_run(
        self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool
    ) -> None:
        """kedro-mlflow's own per-node work: it re-enters the run in threads.

        The parameters are left out of what it is given: ``before_pipeline_run``
        logged every one of them already, flattened field by field, where
        kedro-mlflow would log a typed section as one truncated string.
        """
        if self._tracked:
            others = {
                name: value
                for name, value in inputs.items()
                if not name.startswith("params:") and name != "parameters"
            }
            self._mlflow.before_node_run(node, catalog, others, is_async)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep what the closing log needs, as it is saved."""
        if dataset_name in KEPT:
            self._kept[dataset_name] = data

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Log the training run, register its model, set its alias; end the run."""
        if not self._tracked:
            return
        try:
            if MODEL_DATASET in pipeline.all_outputs() and mlflow.active_run():
                self._log_and_register(pipeline, catalog)
        finally:
            self._mlflow.after_pipeline_run(run_params, pipeline, catalog)
            self._kept = {}

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline,
        catalog: Any,
    ) -> None:  # fmt: skip
        """Close the MLflow run as failed; nothing is registered."""
        if self._tracked:
            self._mlflow.on_pipeline_error(error, run_params, pipeline, catalog)
        self._kept = {}

    def _log_and_register(self, pipeline: Pipeline, catalog: Any) -> None:
        dataset = catalog.get(MODEL_DATASET)
        if not isinstance(dataset, ModelArtifactDataset) or self.registry is None:
            return
        version = dataset.saved_version
        entry = dataset.manifest.read().versions.get(version or "")
        if version is None or entry is None:
            return
        # ParallelRunner saves in worker processes, whose hooks are not these.
        for name in set(KEPT) - set(self._kept):
            if name in pipeline.all_outputs():
                self._kept[name] = catalog.load(name)
        model = self._kept[MODEL_DATASET]
        mlflow.log_metrics(training_metrics(self._kept))
        mlflow.set_tags(
            {
                "data_fingerprint": model.metadata.get("data_fingerprint", ""),
                "selected_model": model.name,
                "selection_metric": model.metadata.get("selection_metric", ""),
                KEDRO_VERSION_TAG: version,
            }
        )
        config = catalog.to_config()[0]
        for path in report_files(config, set(pipeline.all_outputs())):
            mlflow.log_artifact(str(path), artifact_path="reports")
        path = dataset.file_path(version)
        info = mlflow.pyfunc.log_model(
            name=LOGGED_MODEL_NAME,
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"artifact": str(path)},
            model_config={SHA256_TAG: entry.sha256},
            signature=model_signature(),
            input_example=input_example(),
            pip_requirements=_requirements(model),
        )
        decision = self._kept.get(DECISION_DATASET)
        registered = self.registry.register(
            info.model_uri,
            run_id=mlflow.active_run().info.run_id,
            tags={
                KEDRO_VERSION_TAG: version,
                SHA256_TAG: entry.sha256,
                ARTIFACT_TAG: path.name,
                "model_name": model.name,
                **({"gate": decision["reason"]} if decision else {}),
            },
        )
        alias = decision["alias"] if decision else None
        if alias == CHAMPION:
            RegistryCurrentModel(self.registry, dataset.manifest).promote(
                registered, "the gate promoted it"
            )
        elif alias is not None:
            self.registry.set_alias(alias, registered.version)
        logger.info(
            "Registered %s version %s%s",
            "purchase-model",
            registered.version,
            f" as {alias} ({decision['reason']})" if decision else " (no gate ran)",
        )


def _tracking_params(parameters: Mapping[str, Any]) -> TrackingParams:
    try:
        return TrackingParams.model_validate(parameters.get(TRACKING_SECTION) or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join([TRACKING_SECTION, *(str(part) for part in error["loc"])])
        raise TrackingError(
            f"{where}: {error['msg']} (input_value={error.get('input')!r})"
        ) from exc


def _artifact_location(config: Mapping[str, Any]) -> str | None:
    experiment = (config.get("tracking") or {}).get("experiment") or {}
    return (experiment.get("create_experiment_kwargs") or {}).get("artifact_location")


def _requirements(model: Any) -> list[str]:
    """The libraries the model was trained with, pinned (no inference by MLflow)."""
    names = {"sklearn": "scikit-learn"}
    versions = model.metadata.get("library_versions") or {}
    pins = [
        f"{names.get(label, label)}=={version}" for label, version in versions.items()
    ]
    return sorted({*pins, f"mlflow=={mlflow.__version__}", "skops"})
