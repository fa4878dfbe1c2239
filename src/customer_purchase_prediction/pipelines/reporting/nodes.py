"""Nodes of the reporting pipeline: every report from the saved training artifacts.

Each number is computed once and then quoted: the test metrics come from
``test_metrics`` and ``candidate_tuning`` (via ``model_metrics``), the confusion
counts and every business figure from one table of test predictions at the
selected model's threshold (via ``business_impact``). The comparison table, the
Markdown summaries, the plots and the model card only format those two.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.contract import LABEL_COLUMN
from customer_purchase_prediction.model import PurchaseModel, pipeline_proba
from customer_purchase_prediction.pipelines.reporting import plots
from customer_purchase_prediction.pipelines.reporting.computations import (
    METRIC_LABELS,
    REPORTED_METRICS,
    artifact_version,
    assumptions,
    best_depth,
    bootstrap_intervals,
    calibration_summary,
    check_same_run,
    confusion_counts,
    decile_table,
    model_importance,
    outcomes,
    prediction_frame,
    selected_predictions,
    strategies,
    threshold_table,
)
from customer_purchase_prediction.pipelines.reporting.markdown import (
    assumption_section,
    card_business,
    card_calibration,
    card_features,
    card_header,
    card_intended_use,
    card_limitations,
    card_performance,
    card_selection,
    card_training_data,
    card_versions,
    comparison_markdown,
    decile_section,
    impact_headline,
    strategy_section,
)
from customer_purchase_prediction.pipelines.reporting.params import (
    ReportingParams,
)

logger = logging.getLogger(__name__)


# ================================================================ nodes
def score_test_sessions(
    purchase_model: PurchaseModel,
    candidate_models: dict[str, Pipeline],
    model_selection: dict[str, Any],
    test_metrics: dict[str, dict[str, float]],
    test_sessions: pd.DataFrame,
) -> pd.DataFrame:
    """Each candidate's test probabilities and decisions at its own threshold.

    The selected model is scored by the loaded artifact itself, so the reports
    describe the model that is deployed.

    Raises:
        ArtifactMismatchError: the artifact is not the one the modelling outputs
            (selection, test metrics) were computed for.
    """
    check_same_run(purchase_model, model_selection, test_metrics)
    selected = model_selection["selected_model"]
    frames = []
    for name, pipeline in candidate_models.items():
        if name == selected:
            proba = purchase_model.predict_proba(test_sessions)
        else:
            proba = pipeline_proba(pipeline, test_sessions)
        frames.append(
            prediction_frame(
                name,
                name == selected,
                test_sessions,
                proba,
                model_selection["thresholds"][name],
            )
        )
    return pd.concat(frames, ignore_index=True)


def compile_model_metrics(
    candidate_tuning: dict[str, Any],
    model_selection: dict[str, Any],
    test_metrics: dict[str, dict[str, float]],
    test_predictions: pd.DataFrame,
    purchase_model: PurchaseModel,
    params: ReportingParams,
) -> dict[str, Any]:
    """The metrics report: CV, validation and test metrics of every candidate.

    The selection score of a candidate is what selection compared (its CV mean
    of the selection metric); ``contenders`` are the candidates selection chose
    among (``modelling.tie_break_within_standard_error``).

    Adds bootstrap intervals of the test metrics and the selected model's
    calibration, computed from the test predictions.
    """
    selected = model_selection["selected_model"]
    contenders = model_selection.get("contenders", [selected])
    models = {
        name: {
            "selected": name == selected,
            "contender": name in contenders,
            "threshold": model_selection["thresholds"][name],
            "selection_score": model_selection["selection_scores"][name],
            "cv": candidate_tuning[name]["cv"],
            "validation": model_selection["validation"][name],
            "test": test_metrics[name],
            "test_interval": bootstrap_intervals(part, params.bootstrap),
        }
        for name, part in test_predictions.groupby("model", sort=False)
    }
    selected_rows = selected_predictions(test_predictions)
    return {
        "selected_model": selected,
        "selection_metric": model_selection["selection_metric"],
        "contenders": contenders,
        "threshold": model_selection["thresholds"][selected],
        "artifact_version": artifact_version(purchase_model),
        "trained_at": purchase_model.metadata.get("trained_at"),
        "test_rows": len(selected_rows),
        "test_purchasers": int(selected_rows[LABEL_COLUMN].sum()),
        "bootstrap": {"method": "percentile", **params.bootstrap.model_dump()},
        "calibration": calibration_summary(selected_rows, params.calibration_bins),
        "models": models,
    }


def build_model_comparison(
    model_metrics: dict[str, Any],
) -> tuple[pd.DataFrame, str]:
    """The candidate comparison table, as CSV rows and as Markdown."""
    metric = model_metrics["selection_metric"]
    rows = [
        {
            "model": name,
            "selected": entry["selected"],
            "contender": entry["contender"],
            "threshold": entry["threshold"],
            **{f"test_{m}": entry["test"][m] for m in REPORTED_METRICS},
            f"cv_{metric}_mean": entry["cv"][metric]["mean"],
            f"cv_{metric}_std": entry["cv"][metric]["std"],
            # What breaks ties between contenders (the same column for roc_auc).
            "cv_roc_auc_mean": entry["cv"]["roc_auc"]["mean"],
        }
        for name, entry in model_metrics["models"].items()
    ]
    table = pd.DataFrame(rows)
    return table, comparison_markdown(table, model_metrics)


def assess_business_impact(
    test_predictions: pd.DataFrame, params: ReportingParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Confusion counts, waste, missed purchases, profit and the decile table.

    Everything comes from the selected model's test predictions at its threshold.
    """
    rows = selected_predictions(test_predictions)
    y = rows[LABEL_COLUMN].to_numpy()
    counts = confusion_counts(y, rows["prediction"].to_numpy())
    deciles = decile_table(y, rows["probability"].to_numpy(), params)
    impact = {
        "model": str(rows["model"].iloc[0]),
        "threshold": float(rows["threshold"].iloc[0]),
        "assumptions": assumptions(params),
        "test_customers": len(rows),
        "purchasers": int(y.sum()),
        "purchase_rate": float(y.mean()),
        "confusion_matrix": counts,
        **outcomes(counts, params),
        "strategies": strategies(counts, params),
        "best_campaign_depth": best_depth(deciles, len(rows)),
        "deciles": deciles.to_dict(orient="records"),
    }
    impact["best_strategy"] = max(
        impact["strategies"], key=lambda s: impact["strategies"][s]["profit"]
    )
    return impact, deciles


def summarise_business_impact(business_impact: dict[str, Any]) -> str:
    """The business impact as a page a campaign manager can read."""
    return "\n".join(
        [
            "# Business impact of the purchase model",
            "",
            *impact_headline(business_impact),
            "",
            *strategy_section(business_impact),
            "",
            *decile_section(business_impact),
            "",
            *assumption_section(business_impact),
        ]
    )


def explain_features(
    purchase_model: PurchaseModel, test_sessions: pd.DataFrame, params: ReportingParams
) -> pd.DataFrame:
    """The model's own feature importance and permutation importance on test."""
    matrix = purchase_model.features.transform(test_sessions)
    permuted = permutation_importance(
        purchase_model.estimator,
        matrix,
        test_sessions[LABEL_COLUMN].to_numpy(),
        scoring="roc_auc",
        n_repeats=params.permutation.n_repeats,
        random_state=params.permutation.seed,
        max_samples=min(len(matrix), params.permutation.max_rows),
    )
    own, kind = model_importance(purchase_model.estimator)
    table = pd.DataFrame(
        {
            "feature": purchase_model.features.get_feature_names_out(),
            "model_importance": own,
            "importance_kind": kind,
            "permutation_mean": permuted.importances_mean,
            "permutation_std": permuted.importances_std,
        }
    )
    return table.sort_values("permutation_mean", ascending=False, ignore_index=True)


def write_model_card(
    model_metrics: dict[str, Any],
    business_impact: dict[str, Any],
    feature_importance: pd.DataFrame,
    data_quality_report: dict[str, Any],
    purchase_model: PurchaseModel,
    params: ReportingParams,
) -> str:
    """The model card: use, data, selection, metrics, calibration, limits, versions."""
    sections = [
        card_header(model_metrics, purchase_model),
        card_intended_use(),
        card_training_data(data_quality_report, purchase_model, params),
        card_selection(model_metrics),
        card_performance(model_metrics),
        card_calibration(model_metrics),
        card_business(business_impact),
        card_features(feature_importance),
        card_limitations(model_metrics, data_quality_report, purchase_model, params),
        card_versions(model_metrics, purchase_model),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def plot_confusion_matrix(business_impact: dict[str, Any]) -> Figure:
    """The selected model's confusion matrix on the test part."""
    return plots.confusion_matrix_figure(
        business_impact["confusion_matrix"],
        model=business_impact["model"],
        threshold=business_impact["threshold"],
    )


def plot_roc_pr_curves(
    test_predictions: pd.DataFrame, model_metrics: dict[str, Any]
) -> tuple[Figure, go.Figure]:
    """ROC and precision-recall curves of every candidate (PNG and interactive)."""
    scores = {name: entry["test"] for name, entry in model_metrics["models"].items()}
    return plots.roc_pr_figures(
        test_predictions, scores, selected=model_metrics["selected_model"]
    )


def plot_threshold_curves(
    test_predictions: pd.DataFrame, model_metrics: dict[str, Any]
) -> tuple[Figure, go.Figure]:
    """Precision, recall and F1 of the selected model against the threshold."""
    rows = selected_predictions(test_predictions)
    return plots.threshold_figures(
        threshold_table(rows[LABEL_COLUMN].to_numpy(), rows["probability"].to_numpy()),
        threshold=model_metrics["threshold"],
        metric=METRIC_LABELS[model_metrics["selection_metric"]],
        model=model_metrics["selected_model"],
    )


def plot_calibration(model_metrics: dict[str, Any]) -> Figure:
    """The selected model's reliability curve with its Brier score."""
    return plots.calibration_figure(
        model_metrics["calibration"], model=model_metrics["selected_model"]
    )


def plot_gain_lift(business_impact: dict[str, Any]) -> tuple[Figure, go.Figure]:
    """Cumulative gain and lift by decile (PNG and interactive)."""
    return plots.gain_lift_figures(
        pd.DataFrame(business_impact["deciles"]), model=business_impact["model"]
    )


def plot_feature_importance(
    feature_importance: pd.DataFrame,
    model_metrics: dict[str, Any],
    params: ReportingParams,
) -> Figure:
    """The model's own and the permutation importance of the top features."""
    return plots.feature_importance_figure(
        feature_importance,
        model=model_metrics["selected_model"],
        kind=str(feature_importance["importance_kind"].iloc[0]),
        top=params.top_features,
    )
