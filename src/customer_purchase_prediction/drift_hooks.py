"""``--params=monitoring.fail_on=alert``: a drifted batch fails the run, after writing.

The inference pipeline writes every output, the drift report included, in its
last step. Once the run is over, ``FailOnDrift`` reads the report it saved and,
when its status reaches ``monitoring.fail_on`` (``warn`` or ``alert``), raises
``DriftAlertError`` naming the drifting columns: ``kedro run`` then exits
non-zero, so a scheduler notices, and every file of the run is already in place.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from customer_purchase_prediction.drift import MonitoringParams, fails
from customer_purchase_prediction.errors import DriftAlertError

logger = logging.getLogger(__name__)

DRIFT_DATASET = "drift_report"
PARAMS_DATASET = "params:monitoring"


def drift_failure(report: dict[str, Any], fail_on: str | None) -> str | None:
    """The message a run fails with, or ``None`` when the report passes."""
    if not fails(report, fail_on):
        return None
    named = list(report.get("alerting", [])) or list(report.get("warning", []))
    return (
        f"the scored batch drifted: drift status {report['status']} reaches "
        f"monitoring.fail_on={fail_on}, on {', '.join(named)}. {report['reason']}. "
        "Every output of the run was written; read the drift report, then retrain "
        "(kedro run) or set monitoring.fail_on to null to let such runs pass"
    )


class FailOnDrift:
    """After a run that saved a drift report: fail it if ``fail_on`` says so."""

    def __init__(self) -> None:
        self._report: dict[str, Any] | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Forget an earlier run's report."""
        self._report = None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep the drift report as it is saved."""
        if dataset_name == DRIFT_DATASET:
            self._report = data

    @hook_impl(trylast=True)
    def after_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Raise ``DriftAlertError`` when the saved report reaches ``fail_on``."""
        report, self._report = self._report, None
        if report is None or DRIFT_DATASET not in pipeline.all_outputs():
            return
        params = MonitoringParams.model_validate(catalog.load(PARAMS_DATASET) or {})
        message = drift_failure(report, params.fail_on)
        if message is not None:
            raise DriftAlertError(message)
