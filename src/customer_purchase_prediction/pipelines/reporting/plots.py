"""The report's figures, from its numbers; no files, no global state.

The ROC/PR, threshold and gain/lift figures are ``figures.Chart`` definitions,
rendered to a PNG and to an interactive chart by ``render``. The confusion
matrix, calibration and feature-importance figures exist as PNGs only and are
drawn here with matplotlib's object API (``matplotlib.figure.Figure``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customer_purchase_prediction.candidates import display_name
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.pipelines.reporting import figures, render
from customer_purchase_prediction.pipelines.reporting.computations import (
    selected_predictions,
    threshold_table,
)
from customer_purchase_prediction.pipelines.reporting.figures import GREY, PALETTE
from customer_purchase_prediction.pipelines.reporting.params import ReportingParams
from customer_purchase_prediction.pipelines.reporting.summaries import (
    METRIC_LABELS,
    BusinessImpact,
    Calibration,
    ConfusionCounts,
    ModelMetrics,
)


# ---------------------------------------------------------------- charts (two formats)
def roc_pr_chart(
    test_predictions: pd.DataFrame, metrics: ModelMetrics
) -> figures.Chart:
    """ROC and precision-recall curves of every candidate, scores as reported."""
    scores = {name: entry.test for name, entry in metrics.models.items()}
    return figures.roc_pr_chart(
        test_predictions, scores, selected=metrics.selected_model
    )


def threshold_chart(
    test_predictions: pd.DataFrame, metrics: ModelMetrics
) -> figures.Chart:
    """The selected model's precision, recall and F1 against the threshold."""
    rows = selected_predictions(test_predictions)
    return figures.threshold_chart(
        threshold_table(rows[LABEL_COLUMN].to_numpy(), rows["probability"].to_numpy()),
        threshold=metrics.threshold,
        tuned_for=METRIC_LABELS[metrics.threshold_metric],
        model=metrics.selected_model,
        tuned_on=metrics.threshold_rows,
    )


def gain_lift_chart(impact: BusinessImpact) -> figures.Chart:
    """Cumulative gain and lift by decile of the selected model."""
    deciles = pd.DataFrame([d.model_dump() for d in impact.deciles])
    return figures.gain_lift_chart(deciles, model=impact.model)


def report_figures(
    metrics: ModelMetrics,
    impact: BusinessImpact,
    test_predictions: pd.DataFrame,
    importance: pd.DataFrame,
    params: ReportingParams,
) -> dict[str, Figure]:
    """Every PNG figure of the reports, by the stem of its file name."""
    return {
        "confusion_matrix": confusion_matrix_figure(
            impact.confusion_matrix, model=impact.model, threshold=impact.threshold
        ),
        "roc_pr_curves": render.to_matplotlib(roc_pr_chart(test_predictions, metrics)),
        "threshold_curves": render.to_matplotlib(
            threshold_chart(test_predictions, metrics)
        ),
        "calibration": calibration_figure(
            metrics.calibration, model=metrics.selected_model
        ),
        "gain_lift": render.to_matplotlib(gain_lift_chart(impact)),
        "feature_importance": feature_importance_figure(
            importance, model=metrics.selected_model, top=params.top_features
        ),
    }


# ---------------------------------------------------------------- confusion matrix
def confusion_matrix_figure(
    counts: ConfusionCounts, *, model: str, threshold: float
) -> Figure:
    """The 2x2 table of test customers: who was targeted and who bought."""
    cells = np.array(
        [
            [counts.true_positives, counts.false_negatives],
            [counts.false_positives, counts.true_negatives],
        ]
    )
    names = [
        ["Reached buyers", "Missed opportunities"],
        ["Marketing waste", "Correctly not contacted"],
    ]
    total = int(cells.sum())
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=max(int(cells.max()), 1))
    for (row, col), count in np.ndenumerate(cells):
        dark = count > cells.max() / 2
        ax.text(
            col,
            row,
            f"{names[row][col]}\n{count} ({count / max(total, 1):.0%})",
            ha="center",
            va="center",
            fontsize=11,
            color="white" if dark else "black",
        )
    ax.set_xticks([0, 1], ["Targeted\n(predicted to buy)", "Not targeted"])
    ax.set_yticks([0, 1], ["Bought", "Did not buy"])
    ax.set_xlabel("Model decision")
    ax.set_ylabel("What the customer did")
    ax.set_title(
        f"Who the model targets: {display_name(model)} on {total} test customers\n"
        f"(targeted when purchase probability >= {threshold:.2f})"
    )
    return fig


# ---------------------------------------------------------------- calibration
def calibration_figure(calibration: Calibration, *, model: str) -> Figure:
    """Reliability curve: predicted purchase probability against what happened."""
    bins = pd.DataFrame([b.model_dump() for b in calibration.bins])
    fig = Figure(figsize=(6.8, 6.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, label="Perfectly calibrated")
    ax.plot(
        bins["mean_probability"],
        bins["purchase_rate"],
        "o-",
        color=PALETTE[0],
        label=f"{display_name(model)} (groups of about {int(bins['customers'].median())} "
        "customers)",
    )
    ax.set(
        xlabel="Predicted purchase probability (group average)",
        ylabel="Share of the group who bought",
        xlim=(0, 1),
        ylim=(0, 1),
        title=(
            f"Are the probabilities honest? {display_name(model)}, test customers\n"
            f"Brier score {calibration.brier_score:.3f} "
            f"(always predicting the purchase rate: "
            f"{calibration.reference_brier_score:.3f}; lower is better)"
        ),
    )
    ax.text(
        0.98,
        0.04,
        "above the diagonal: probabilities too low\n"
        "below the diagonal: probabilities too high",
        transform=ax.transAxes,
        ha="right",
        fontsize=9,
        color=GREY,
    )
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- feature importance
def feature_importance_figure(
    importance: pd.DataFrame, *, model: str, top: int
) -> Figure:
    """The model's own importance next to permutation importance on the test part.

    A model without importance of its own (``importance_kind`` empty) gets the
    permutation panel only, and the title says so.
    """
    kind = importance["importance_kind"].iloc[0]
    own_kind = kind if isinstance(kind, str) and kind else None
    shown = min(top, len(importance))
    fig = Figure(
        figsize=(13 if own_kind else 7.5, 0.35 * shown + 2.2), layout="constrained"
    )
    axes = fig.subplots(1, 2 if own_kind else 1, squeeze=False)[0]
    if own_kind:
        own = importance.nlargest(top, "model_importance").iloc[::-1]
        axes[0].barh(own["feature"], own["model_importance"], color=PALETTE[0])
        axes[0].set(
            xlabel=f"Share of the model's total importance ({own_kind})",
            title=f"{display_name(model)}'s own importance\n({own_kind})",
        )
    perm_ax = axes[-1]
    perm = importance.nlargest(top, "permutation_mean").iloc[::-1]
    perm_ax.barh(
        perm["feature"],
        perm["permutation_mean"],
        xerr=perm["permutation_std"],
        color=PALETTE[1],
        ecolor=GREY,
    )
    perm_ax.axvline(0, color="black", lw=0.8)
    perm_ax.set(
        xlabel="Drop in test ROC AUC when shuffled",
        title="Permutation importance on the test part\n(how much worse without it)",
    )
    axes[0].set_ylabel("Engineered feature (model-matrix column)")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"Which engineered features drive the purchase prediction (top {shown})"
        + (
            ""
            if own_kind
            else f"\n{display_name(model)} has no importance of its "
            "own: permutation importance only"
        )
    )
    return fig
