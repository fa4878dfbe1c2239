"""Nodes of monitoring: the reference profile (training), the drift report
(inference) and realised performance (the ``monitoring`` pipeline).

The statistics live in ``drift.py`` and ``monitoring.py``; these nodes feed
them the catalog's data and render their words (Jinja2 templates in
``pipelines/reporting/templates``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import FEATURE_COLUMNS
from customer_purchase_prediction.drift import (
    MonitoringParams,
    build_profile,
    drift_report,
)
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.monitoring import (
    RUN_ID,
    collect_predictions,
    join_outcomes,
    realised_report,
)
from customer_purchase_prediction.pipelines.reporting.templating import render
from customer_purchase_prediction.scale_out import on_partitions

logger = logging.getLogger(__name__)

CHART_WIDTH = 360
CHART_HEIGHT = 150


def build_reference_profile(
    train_sessions: pd.DataFrame,
    test_predictions: pd.DataFrame,
    data_quality_report: dict[str, Any],
) -> dict[str, Any]:
    """What drift needs of the training rows and the selected model's test scores."""
    selected = test_predictions[test_predictions["selected"].astype(bool)]
    rows = data_quality_report["rows"]
    return build_profile(
        train_sessions[list(FEATURE_COLUMNS)],
        selected["probability"].to_numpy(dtype=np.float64),
        rows_in=int(rows["in"]),
        rejected=int(rows["rejected"]),
        rejects_by_column=data_quality_report["rejects_by_column"],
    )


@on_partitions  # a Dask frame: partitioned.report_drift (--env=dask)
def report_drift(
    new_sessions_validated: pd.DataFrame,
    scored_sessions: pd.DataFrame,
    new_session_rejects: pd.DataFrame,
    new_sessions_summary: dict[str, Any],
    purchase_model: PurchaseModel,
    params: MonitoringParams,
    run_id: str,
) -> tuple[dict[str, Any], str]:
    """The batch's drift report (JSON) and its HTML page, marked with the run id."""
    report = {
        RUN_ID: run_id,
        "source": new_sessions_summary["source"],
        "model": {"name": purchase_model.name, "version": purchase_model.version},
        **drift_report(
            new_sessions_validated,
            scored_sessions["purchase_probability"].to_numpy(dtype=np.float64),
            purchase_model.reference_profile,
            params,
            rows_in=int(new_sessions_summary["rows_in"]),
            rejects=new_session_rejects,
        ),
    }
    log = logger.warning if report["status"] in ("warn", "alert") else logger.info
    log("Drift %s: %s", report["status"], report["reason"])
    return report, drift_page(report)


def drift_page(report: dict[str, Any]) -> str:
    """The drift report as one HTML page: a chart per drifting column."""
    parts = {**report.get("columns", {})}
    if "score" in report:
        parts["score"] = report["score"]
    charts = {
        name: bar_chart(part)
        for name, part in parts.items()
        if part.get("status") in ("warn", "alert") and "bins" in part
    }
    return render("drift.html.j2", report=report, parts=parts, charts=charts)


def bar_chart(part: dict[str, Any]) -> dict[str, Any]:
    """Bars of reference and batch shares per bin, in SVG coordinates."""
    reference = part["reference_frequencies"]
    batch = part["batch_frequencies"]
    top = max([*reference, *batch, 1e-9])
    slot = CHART_WIDTH / max(len(reference), 1)
    bars = []
    for index, (label, ref, new) in enumerate(
        zip(part["bins"], reference, batch, strict=True)
    ):
        x = index * slot
        bars.append(
            {
                "label": label,
                "x_ref": round(x + slot * 0.1, 1),
                "x_new": round(x + slot * 0.5, 1),
                "width": round(slot * 0.4, 1),
                "h_ref": round(ref / top * CHART_HEIGHT, 1),
                "h_new": round(new / top * CHART_HEIGHT, 1),
                "ref": ref,
                "new": new,
            }
        )
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars}


def collect_prediction_rows(
    monitored_predictions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One prediction per customer and run, from every file read; copies and
    conflicts set aside with reasons (never counted twice)."""
    counted, aside = collect_predictions(monitored_predictions)
    files = sorted(set(counted["source_file"]))
    logger.info(
        "Predictions: %d rows from %d file(s), %d counted, %d set aside",
        len(counted) + len(aside),
        len(files),
        len(counted),
        len(aside),
    )
    return counted, aside


def join_outcome_rows(
    counted_predictions: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes joined to their predictions; the others rejected with reasons."""
    joined, rejects = join_outcomes(counted_predictions, outcomes)
    logger.info(
        "Outcomes: %d in, %d joined to predictions, %d rejected",
        len(joined) + len(rejects),
        len(joined),
        len(rejects),
    )
    return joined, rejects


def measure_realised_performance(
    counted_predictions: pd.DataFrame,
    joined_outcomes: pd.DataFrame,
    rejected_outcomes: pd.DataFrame,
    rejected_predictions: pd.DataFrame,
    business: BusinessParams,
    params: MonitoringParams,
) -> dict[str, Any]:
    """Per scoring run, per model and over all: share matched, metrics, profit,
    calibration; and the prediction rows set aside."""
    return realised_report(
        counted_predictions,
        joined_outcomes,
        rejected_outcomes,
        business,
        calibration_bins=params.realised.calibration_bins,
        set_aside=rejected_predictions,
    )


def realised_performance_figure(realised_performance: dict[str, Any]) -> Figure:
    """Calibration over all runs, and ROC AUC / F1 / Brier per scoring run."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    calibration_axes, runs_axes = figure.subplots(1, 2)
    groups = realised_performance["overall"].get("calibration", [])
    calibration_axes.plot([0, 1], [0, 1], color="#999999", linestyle="--")
    calibration_axes.plot(
        [g["predicted"] for g in groups], [g["realised"] for g in groups], marker="o"
    )
    calibration_axes.set(
        title="Calibration (all runs)",
        xlabel="predicted purchase probability",
        ylabel="share who bought",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    runs = realised_performance["runs"]
    positions = np.arange(len(runs))
    for metric in ("roc_auc", "f1", "brier"):
        values = [np.nan if r.get(metric) is None else r[metric] for r in runs]
        runs_axes.plot(positions, values, marker="o", label=metric)
    runs_axes.set_xticks(positions, [r[RUN_ID] for r in runs], rotation=30, ha="right")
    runs_axes.set(title="Per scoring run", ylim=(0, 1))
    runs_axes.legend()
    return figure


def realised_performance_page(realised_performance: dict[str, Any]) -> str:
    """Realised performance as an HTML section (a page of its own)."""
    return render("monitoring.html.j2", realised=realised_performance)
