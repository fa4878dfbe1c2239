"""Nodes of the reporting pipeline: every report from the saved training artifacts.

Each number is computed once and then quoted: the test metrics come from
``test_metrics`` and ``candidate_tuning`` (via ``ModelMetrics``), the confusion
counts and every business figure from the test predictions modelling scored
once, at the selected model's threshold (via ``BusinessImpact``). The comparison
table, the Markdown and HTML reports (templates), the plots and the model card
only format those two.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.columns import LABEL_COLUMN, SESSION_COLUMNS
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting import plots, render, templating
from customer_purchase_prediction.pipelines.reporting.card import card_facts
from customer_purchase_prediction.pipelines.reporting.computations import (
    COMPARED_METRICS,
    REPORTED_METRICS,
    artifact_version,
    assumptions,
    best_depth,
    bootstrap_intervals,
    calibration_summary,
    confusion_counts,
    decile_table,
    outcomes,
    selected_predictions,
    strategies,
)
from customer_purchase_prediction.pipelines.reporting.params import ReportingParams
from customer_purchase_prediction.pipelines.reporting.summaries import (
    Bootstrap,
    BusinessImpact,
    CandidateMetrics,
    Decile,
    ModelMetrics,
)
from customer_purchase_prediction.results import (
    CandidateTestMetrics,
    CandidateTuning,
    Selection,
)

logger = logging.getLogger(__name__)


# ================================================================ numbers
def compile_model_metrics(
    candidate_tuning: CandidateTuning,
    model_selection: Selection,
    test_metrics: CandidateTestMetrics,
    test_predictions: pd.DataFrame,
    purchase_model: PurchaseModel,
    params: ReportingParams,
) -> ModelMetrics:
    """The metrics report: CV, validation and test metrics of every candidate.

    Adds bootstrap intervals of the test metrics and the selected model's
    calibration, computed from the test predictions.
    """
    selection = model_selection
    models = {
        name: CandidateMetrics(
            selected=name == selection.selected_model,
            contender=name in selection.contenders,
            threshold=selection.thresholds[name],
            selection_score=selection.selection_scores[name],
            cv=candidate_tuning[name].cv,
            validation=selection.validation[name],
            test=test_metrics[name],
            test_interval=bootstrap_intervals(part, params.bootstrap),
        )
        for name, part in test_predictions.groupby("model", sort=False)
    }
    rows = selected_predictions(test_predictions)
    return ModelMetrics(
        selected_model=selection.selected_model,
        selection_metric=selection.selection_metric,
        contenders=selection.contenders,
        tie_break=selection.tie_break,
        threshold=selection.thresholds[selection.selected_model],
        artifact_version=artifact_version(purchase_model),
        trained_at=purchase_model.metadata.get("trained_at"),
        test_rows=len(rows),
        test_purchasers=int(rows[LABEL_COLUMN].sum()),
        bootstrap=Bootstrap(method="percentile", **params.bootstrap.model_dump()),
        calibration=calibration_summary(rows, params.calibration_bins),
        calibration_method=purchase_model.metadata.get("calibration", {}).get("method"),
        ensemble_weights=purchase_model.metadata.get("ensemble_weights"),
        ensemble_weights_setting=purchase_model.metadata.get(
            "ensemble_weights_setting"
        ),
        ensemble_weights_cv=purchase_model.metadata.get("ensemble_weights_cv"),
        threshold_tuned_on=purchase_model.metadata.get(
            "threshold_tuned_on", "validation"
        ),
        models=models,
    )


def build_model_comparison(model_metrics: ModelMetrics) -> tuple[pd.DataFrame, str]:
    """The candidate comparison table, as CSV rows and as Markdown."""
    metric = model_metrics.selection_metric
    rows = [
        {
            "model": name,
            "selected": entry.selected,
            "contender": entry.contender,
            "threshold": entry.threshold,
            **{f"test_{m}": entry.test.get(m) for m in COMPARED_METRICS},
            f"cv_{metric}_mean": entry.cv[metric].mean,
            f"cv_{metric}_std": entry.cv[metric].std,
            # What breaks ties between contenders (the same column for roc_auc).
            "cv_roc_auc_mean": entry.cv["roc_auc"].mean,
        }
        for name, entry in model_metrics.models.items()
    ]
    return pd.DataFrame(rows), comparison_markdown(model_metrics)


def assess_business_impact(
    test_predictions: pd.DataFrame, params: BusinessParams
) -> tuple[BusinessImpact, pd.DataFrame]:
    """Confusion counts, waste, missed purchases, profit and the decile table.

    Everything comes from the selected model's test predictions at its threshold.
    """
    rows = selected_predictions(test_predictions)
    y = rows[LABEL_COLUMN].to_numpy()
    counts = confusion_counts(y, rows["prediction"].to_numpy())
    deciles = decile_table(y, rows["probability"].to_numpy(), params)
    plans = strategies(counts, params)
    impact = BusinessImpact(
        model=str(rows["model"].iloc[0]),
        threshold=float(rows["threshold"].iloc[0]),
        assumptions=assumptions(params),
        test_customers=len(rows),
        purchasers=int(y.sum()),
        purchase_rate=float(y.mean()),
        confusion_matrix=counts,
        **outcomes(counts, params),
        strategies=plans,
        best_campaign_depth=best_depth(deciles, len(rows)),
        deciles=[Decile(**d) for d in deciles.to_dict(orient="records")],
        best_strategy=max(plans, key=lambda s: plans[s].profit),
    )
    return impact, deciles


def explain_features(
    purchase_model: PurchaseModel,
    test_predictions: pd.DataFrame,
    params: ReportingParams,
) -> pd.DataFrame:
    """The model's own feature importance and permutation importance on test.

    A candidate without importance of its own gets permutation importance only
    (``model_importance`` empty).
    """
    rows = selected_predictions(test_predictions)
    matrix = purchase_model.features.transform(rows[list(SESSION_COLUMNS)])
    permuted = permutation_importance(
        purchase_model.estimator,
        matrix,
        rows[LABEL_COLUMN].to_numpy(),
        scoring="roc_auc",
        n_repeats=params.permutation.n_repeats,
        random_state=params.permutation.seed,
        max_samples=min(len(matrix), params.permutation.max_rows),
    )
    candidate = get_candidate(purchase_model.name)
    own = candidate.importance_shares(purchase_model.estimator)
    table = pd.DataFrame(
        {
            "feature": purchase_model.features.get_feature_names_out(),
            "model_importance": float("nan") if own is None else own,
            "importance_kind": candidate.importance.kind
            if candidate.importance
            else "",
            "permutation_mean": permuted.importances_mean,
            "permutation_std": permuted.importances_std,
        }
    )
    return table.sort_values("permutation_mean", ascending=False, ignore_index=True)


# ================================================================ words
def comparison_markdown(model_metrics: ModelMetrics) -> str:
    """``model_comparison.md``."""
    return templating.render(
        "model_comparison.md.j2", mm=model_metrics, metrics=COMPARED_METRICS
    )


def summarise_business_impact(business_impact: BusinessImpact) -> str:
    """The business impact as a page a campaign manager can read."""
    return templating.render("business_impact.md.j2", impact=business_impact)


def write_model_card(
    model_metrics: ModelMetrics,
    business_impact: BusinessImpact,
    feature_importance: pd.DataFrame,
    purchase_model: PurchaseModel,
    params: ReportingParams,
    business: BusinessParams,
    registry_decision: Mapping[str, Any] | None = None,
) -> str:
    """The model card: use, data, selection, metrics, calibration, limits, versions,
    and the registry gate's decision (``registry.gate_decision``) when there is one."""
    return templating.render(
        "model_card.md.j2",
        mm=model_metrics,
        impact=business_impact,
        card=card_facts(
            purchase_model, model_metrics, feature_importance, params, business
        ),
        metrics=REPORTED_METRICS,
        registry=registry_decision,
    )


def write_html_report(  # noqa: PLR0913, PLR0917 - a node takes its catalog inputs
    model_metrics: ModelMetrics,
    business_impact: BusinessImpact,
    feature_importance: pd.DataFrame,
    test_predictions: pd.DataFrame,
    purchase_model: PurchaseModel,
    params: ReportingParams,
    business: BusinessParams,
    registry_decision: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained page: card, comparison, business impact, every figure.

    Figures are embedded as PNG data URIs and the style sheet is inline, so the
    page opens in any browser, offline, without Kedro.
    """
    figures = plots.report_figures(
        model_metrics, business_impact, test_predictions, feature_importance, params
    )
    card = write_model_card(
        model_metrics,
        business_impact,
        feature_importance,
        purchase_model,
        params,
        business,
        registry_decision,
    )
    return templating.render(
        "report.html.j2",
        mm=model_metrics,
        card=templating.markdown_to_html(card),
        comparison=templating.markdown_to_html(comparison_markdown(model_metrics)),
        business=templating.markdown_to_html(
            summarise_business_impact(business_impact)
        ),
        images={name: render.png_data_uri(fig) for name, fig in figures.items()},
    )


# ================================================================ figures
def plot_confusion_matrix(business_impact: BusinessImpact) -> Figure:
    """The selected model's confusion matrix on the test part."""
    return plots.confusion_matrix_figure(
        business_impact.confusion_matrix,
        model=business_impact.model,
        threshold=business_impact.threshold,
    )


def plot_roc_pr_curves(
    test_predictions: pd.DataFrame, model_metrics: ModelMetrics
) -> tuple[Figure, go.Figure]:
    """ROC and precision-recall curves of every candidate (PNG and interactive)."""
    chart = plots.roc_pr_chart(test_predictions, model_metrics)
    return render.to_matplotlib(chart), render.to_plotly(chart)


def plot_threshold_curves(
    test_predictions: pd.DataFrame, model_metrics: ModelMetrics
) -> tuple[Figure, go.Figure]:
    """Precision, recall and F1 of the selected model against the threshold."""
    chart = plots.threshold_chart(test_predictions, model_metrics)
    return render.to_matplotlib(chart), render.to_plotly(chart)


def plot_calibration(model_metrics: ModelMetrics) -> Figure:
    """The selected model's reliability curve with its Brier score."""
    return plots.calibration_figure(
        model_metrics.calibration, model=model_metrics.selected_model
    )


def plot_gain_lift(business_impact: BusinessImpact) -> tuple[Figure, go.Figure]:
    """Cumulative gain and lift by decile (PNG and interactive)."""
    chart = plots.gain_lift_chart(business_impact)
    return render.to_matplotlib(chart), render.to_plotly(chart)


def plot_feature_importance(
    feature_importance: pd.DataFrame,
    model_metrics: ModelMetrics,
    params: ReportingParams,
) -> Figure:
    """The model's own and the permutation importance of the top features."""
    return plots.feature_importance_figure(
        feature_importance, model=model_metrics.selected_model, top=params.top_features
    )
