"""Realised performance on the model's registry version (tracking on, issue 13).

When the ``monitoring`` pipeline saves ``realised_performance``, the
``RealisedTracking`` hook logs each model's part of it (the runs that model
scored, ``monitoring.tracking_metrics``) on that model's version of
``purchase-model``: one MLflow run per model and monitoring run, in the
experiment of the run that trained the version, tagged with the version, its
metrics logged with the version's ``model_id`` (MLflow 3 links metrics to a
logged model, and a registered version shows its logged model's metrics); the
version gets the tag ``realised_monitoring_run`` naming that run. A model is
known by the run summaries beside its predictions (``prediction_history.py``);
the registry finds its version by the registry version the summary names, else
by its Kedro version (the ``kedro_version`` tag).

Tracking never fails monitoring: without a store (no tracked training run yet),
with a store that cannot be reached, or a model that is not registered, the
JSON, the plot and the page are written all the same and the log says that
tracking was skipped and why (``RealisedTracking.outcome`` too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from customer_purchase_prediction.monitoring import (
    MODEL_VERSION,
    REGISTRY_VERSION,
    tracking_metrics,
)
from customer_purchase_prediction.registry import (
    MODEL_NAME,
    TRACKING_SECTION,
    ModelRegistry,
    RegisteredModel,
    TrackingParams,
    existing_registry,
)

logger = logging.getLogger(__name__)

REALISED_DATASET = "realised_performance"
RUN_TAG = "realised_monitoring_run"
KIND_TAG = "purchase.kind"
KIND = "monitoring"


def log_realised(
    report: Mapping[str, Any], registry: ModelRegistry | None, *, timeout: float
) -> dict[str, Any]:
    """Log each model's realised metrics on its registry version.

    Returns:
        ``{"logged": [{"registry_version", "run_id", "metrics"}], "skipped":
        [reasons]}``; nothing raises.
    """
    outcome: dict[str, Any] = {"logged": [], "skipped": []}
    if registry is None:
        outcome["skipped"].append(
            "no tracking store yet (no tracked training run): nothing to log on"
        )
        return outcome
    from customer_purchase_prediction.tracking import (  # noqa: PLC0415 - heavy
        store_problem,
    )

    problem = store_problem(registry.tracking_uri, None, timeout)
    if problem is not None:
        outcome["skipped"].append(problem)
        return outcome
    parts = list(report.get("models") or [])
    if not parts:
        outcome["skipped"].append(
            "no scoring run's model is known (no run summary beside the "
            "predictions files)"
        )
    for part in parts:
        try:
            version = _registered(registry, part)
            if version is None:
                outcome["skipped"].append(
                    f"model {part.get(MODEL_VERSION)} is not a version of "
                    f"{MODEL_NAME} in {registry.tracking_uri}"
                )
                continue
            outcome["logged"].append(_log(registry, version, part))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            outcome["skipped"].append(
                f"the registry at {registry.tracking_uri} failed "
                f"({type(exc).__name__}: {first})"
            )
    return outcome


def _registered(
    registry: ModelRegistry, part: Mapping[str, Any]
) -> RegisteredModel | None:
    wanted, kedro_version = part.get(REGISTRY_VERSION), part.get(MODEL_VERSION)
    for entry in registry.versions():
        if (wanted and entry.version == str(wanted)) or (
            not wanted and kedro_version and entry.kedro_version == kedro_version
        ):
            return entry
    return None


def _log(
    registry: ModelRegistry, entry: RegisteredModel, part: Mapping[str, Any]
) -> dict[str, Any]:
    from mlflow.entities import Metric  # noqa: PLC0415 - heavy, on demand

    client = registry.client
    version = client.get_model_version(MODEL_NAME, entry.version)
    experiment = (
        client.get_run(entry.run_id).info.experiment_id if entry.run_id else "0"
    )
    run = client.create_run(
        experiment,
        run_name=f"monitoring {MODEL_NAME} v{entry.version}",
        tags={
            KIND_TAG: KIND,
            "registered_model": MODEL_NAME,
            "registry_version": entry.version,
            "scoring_runs": ",".join(part.get("runs", [])),
        },
    )
    run_id = run.info.run_id
    metrics = tracking_metrics(part)
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[
            Metric(name, value, now, 0, model_id=getattr(version, "model_id", None))
            for name, value in metrics.items()
        ],
    )
    client.set_terminated(run_id)
    client.set_model_version_tag(MODEL_NAME, entry.version, RUN_TAG, run_id)
    return {"registry_version": entry.version, "run_id": run_id, "metrics": metrics}


class RealisedTracking:
    """After ``realised_performance`` is saved: log it on the models' versions."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._env: str | None = None
        self._timeout = TrackingParams().timeout_seconds
        self.outcome: dict[str, Any] | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Remember the project and its tracking timeout."""
        self._root = Path(context.project_path)
        self._env = context.env
        section = (context.params or {}).get(TRACKING_SECTION) or {}
        try:
            self._timeout = TrackingParams.model_validate(dict(section)).timeout_seconds
        except ValueError:  # TrackingHooks names an invalid section
            self._timeout = TrackingParams().timeout_seconds

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Log the saved report; say so, or why tracking was skipped."""
        if dataset_name != REALISED_DATASET or self._root is None:
            return
        try:
            registry = existing_registry(self._root, self._env)
        except Exception as exc:
            registry = None
            logger.warning("Realised performance: no registry (%s)", exc)
        self.outcome = log_realised(data, registry, timeout=self._timeout)
        for logged in self.outcome["logged"]:
            logger.info(
                "Realised performance logged on %s version %s (MLflow run %s)",
                MODEL_NAME,
                logged["registry_version"],
                logged["run_id"],
            )
        for reason in self.outcome["skipped"]:
            logger.warning("Realised performance written; tracking skipped: %s", reason)
