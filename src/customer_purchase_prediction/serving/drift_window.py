"""The service's drift: the last N sessions it was sent, against the model's profile.

Every session a prediction route receives (scored or refused by the contract)
enters a rolling window of the last ``serving.drift_window`` sessions, with
its probability when it was scored and its reject rule when it was refused.
``GET /v1/monitoring/drift`` validates the window's scored sessions with the
data contract (its refused ones count as the rejects they were, by their
rule) and compares them with the model's reference
profile by the batch pipeline's own function (``drift.drift_report``), with
the project's ``monitoring`` parameters (``drift.project_monitoring``; the
defaults outside a project); ``/metrics`` publishes the statuses as
gauges, computed when scraped.

Each worker process keeps its own window (and, in ``--workers N`` mode, the
drift gauges are not summed across workers: read ``/v1/monitoring/drift``).
Customer ids are not kept: the window numbers its sessions itself, so a
customer scored twice is not a duplicate (and a session refused for its id
alone, which the numbers would mend, counts by the rule it broke).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field

from customer_purchase_prediction.columns import ID_COLUMN, SESSION_COLUMNS
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.drift import (
    NOT_JUDGED,
    SCORE,
    MonitoringParams,
    drift_report,
    project_monitoring,
)
from customer_purchase_prediction.serving.route_table import RouteTable
from customer_purchase_prediction.values import encodable

STATUS_VALUES = {NOT_JUDGED: -1, "ok": 0, "warn": 1, "alert": 2}

router = RouteTable()  # installed on the app by create_app


Outcome = float | str  # a scored session's probability, a refused one's reject rule


class DriftWindow:
    """The last ``size`` sessions sent to the service, with their outcomes."""

    def __init__(self, size: int, params: MonitoringParams | None = None) -> None:
        self.size = size
        self.params = params or MonitoringParams()
        self._sessions: deque[tuple[dict[str, Any], Outcome]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(
        self,
        records: Iterable[Mapping[str, Any]],
        outcomes: Iterable[Outcome],
    ) -> None:
        """Keep sessions (as sent) and their outcomes: the probability of a
        scored one, the reject rule of a refused one (``customer_id:negative``)."""
        entries = [
            ({name: record.get(name) for name in SESSION_COLUMNS}, outcome)
            for record, outcome in zip(records, outcomes, strict=True)
        ]
        with self._lock:
            self._sessions.extend(entries)

    def __len__(self) -> int:
        return len(self._sessions)

    def report(self, model: Any) -> dict[str, Any]:
        """The window's drift report against ``model``'s reference profile."""
        with self._lock:
            entries = list(self._sessions)
        scored = [(r, o) for r, o in entries if not isinstance(o, str)]
        refused = [o for _, o in entries if isinstance(o, str)]
        # Text as sent, but a lone surrogate (JSON's \uD800) as its escape:
        # pandas, Arrow and the report's JSON take only text UTF-8 encodes.
        records = [
            {
                **{
                    name: encodable(value) if isinstance(value, str) else value
                    for name, value in record.items()
                },
                ID_COLUMN: position + 1,
            }
            for position, (record, _) in enumerate(scored)
        ]
        frame = pd.DataFrame.from_records(records, columns=list(SESSION_COLUMNS))
        result = validate_sessions(
            frame.astype("object"),
            labelled=False,
            source="the service's drift window",
            allow_empty=True,
        )
        positions = result.valid[ID_COLUMN].to_numpy(dtype=np.int64) - 1
        scores = np.array([scored[p][1] for p in positions], dtype=np.float64)
        rejects = pd.concat(
            [
                result.rejects[["reject_rule"]],
                pd.DataFrame({"reject_rule": pd.Series(refused, dtype="str")}),
            ],
            ignore_index=True,
        )
        report = drift_report(
            result.valid,
            scores.reshape(-1),
            getattr(model, "reference_profile", None),
            self.params,
            rows_in=len(entries),
            rejects=rejects,
        )
        return {"window": {"size": self.size, "sessions": len(entries)}, **report}


class PartDrift(BaseModel):
    """One column's (or the score's, or the reject rate's) drift."""

    status: str = Field(description="ok, warn, alert or not_judged")
    psi: float | None = None
    p_value: float | None = None
    reasons: list[str] = Field(default_factory=list)


class WindowReport(BaseModel):
    """The drift of the service's last sessions against the model's profile."""

    status: str = Field(description="ok, warn, alert or not_judged")
    reason: str
    window: dict[str, int]
    alerting: list[str]
    warning: list[str]
    columns: dict[str, PartDrift]
    score: PartDrift | None = None
    reject_rate: PartDrift | None = None


@router.get("/v1/monitoring/drift", response_model=WindowReport)
def window_drift(request: Request) -> dict[str, Any]:
    """Drift of the last sessions sent to this worker (``serving.drift_window``)."""
    return request.app.state.drift_window.report(request.app.state.predictor.model)


class DriftCollector(Collector):
    """``purchase_drift_status`` (-1 not judged, 0 ok, 1 warn, 2 alert) and
    ``purchase_drift_psi`` per part, computed from the window when scraped."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The window's statuses and PSIs (nothing before the model is loaded)."""
        status = GaugeMetricFamily(
            "purchase_drift_status",
            "Drift of the service's last sessions: -1 not judged, 0 ok, 1 warn, "
            "2 alert; part is a column, score, reject_rate or batch",
            labels=["part"],
        )
        index = GaugeMetricFamily(
            "purchase_drift_psi",
            "Population stability index of the service's last sessions",
            labels=["part"],
        )
        predictor = getattr(self.app.state, "predictor", None)
        if predictor is not None:
            report = self.app.state.drift_window.report(predictor.model)
            status.add_metric(["batch"], STATUS_VALUES[report["status"]])
            for name, part in _parts(report):
                status.add_metric([name], STATUS_VALUES[part["status"]])
                if part.get("psi") is not None:
                    index.add_metric([name], float(part["psi"]))
        yield status
        yield index


def _parts(report: Mapping[str, Any]) -> Sequence[tuple[str, Mapping[str, Any]]]:
    parts = list(report.get("columns", {}).items())
    for name in (SCORE, "reject_rate"):
        if name in report:
            parts.append((name, report[name]))
    return parts


def install_drift_window(app: FastAPI, size: int) -> None:
    """Give ``app`` its window, the drift route and the drift gauges.

    The window judges by the ``monitoring`` parameters of the project the
    settings name (``settings.project_path``, as ``kedro serve`` and
    ``factory_settings`` fill it), else by their defaults.
    """
    settings = getattr(app.state, "settings", None)
    project = getattr(settings, "project_path", None)
    params = MonitoringParams() if project is None else project_monitoring(project)
    app.state.drift_window = DriftWindow(size, params)
    app.state.metrics.registry.register(DriftCollector(app))


def observe_sessions(
    app: FastAPI,
    records: Sequence[Mapping[str, Any]],
    outcomes: Sequence[Outcome],
) -> None:
    """Add a request's sessions and their outcomes (a probability, or a
    refused session's reject rule) to the window (a no-op without one)."""
    window: DriftWindow | None = getattr(app.state, "drift_window", None)
    if window is not None:
        window.add(records, outcomes)
