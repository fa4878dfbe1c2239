"""Pure plotting functions: numbers in, figures out; no files, no global state.

Matplotlib figures are built as ``matplotlib.figure.Figure`` objects (no pyplot
state machine, no backend needed until they are saved); plotly figures are
``plotly.graph_objects.Figure``. The catalog saves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.subplots import make_subplots
from sklearn.metrics import precision_recall_curve, roc_curve

from customer_purchase_prediction.columns import LABEL_COLUMN

DISPLAY_NAMES = {
    "logistic_regression": "Logistic regression",
    "random_forest": "Random forest",
    "xgboost": "XGBoost",
}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
GREY = "#7f7f7f"
PLOTLY_TEMPLATE = "plotly_white"


def display_name(model: str) -> str:
    """A model's name as people say it, e.g. ``XGBoost``."""
    return DISPLAY_NAMES.get(model, model.replace("_", " ").capitalize())


def _colours(models: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(models)}


# ---------------------------------------------------------------- confusion matrix
def confusion_matrix_figure(
    counts: Mapping[str, int], *, model: str, threshold: float
) -> Figure:
    """The 2x2 table of test customers: who was targeted and who bought."""
    cells = np.array(
        [
            [counts["true_positives"], counts["false_negatives"]],
            [counts["false_positives"], counts["true_negatives"]],
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


# ---------------------------------------------------------------- ROC and PR curves
def roc_pr_figures(
    predictions: pd.DataFrame,
    scores: Mapping[str, Mapping[str, float]],
    *,
    selected: str,
) -> tuple[Figure, go.Figure]:
    """ROC and precision-recall curves of every candidate on the test part.

    Args:
        predictions: Long table with ``model``, ``purchase``, ``probability`` and
            ``prediction`` (the decision at the model's threshold).
        scores: Per model its test ``roc_auc`` and ``average_precision``, quoted
            in the legend (the numbers of the metrics report).
        selected: The selected model, drawn thicker.
    """
    models = list(dict.fromkeys(predictions["model"]))
    colours = _colours(models)
    base_rate = float(
        predictions.loc[predictions["model"] == models[0], LABEL_COLUMN].mean()
    )
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    interactive = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "ROC curve: purchasers found vs non-purchasers wrongly targeted",
            "Precision-recall: share of targets who buy vs share of buyers found",
        ),
    )
    for name in models:
        part = predictions[predictions["model"] == name]
        curves = _roc_pr_coordinates(part)
        label = display_name(name) + (" (selected)" if name == selected else "")
        width = 3.0 if name == selected else 1.6
        auc, ap = scores[name]["roc_auc"], scores[name]["average_precision"]
        roc_ax.plot(
            *curves["roc"],
            color=colours[name],
            lw=width,
            label=f"{label}: AUC {auc:.3f}",
        )
        pr_ax.plot(
            *curves["pr"], color=colours[name], lw=width, label=f"{label}: AP {ap:.3f}"
        )
        for ax, point in ((roc_ax, curves["roc_point"]), (pr_ax, curves["pr_point"])):
            ax.plot(*point, "o", color=colours[name], ms=8, mec="black")
        _add_roc_pr_traces(interactive, curves, label, colours[name], width, auc, ap)
    _decorate_roc_pr(roc_ax, pr_ax, base_rate)
    fig.suptitle(
        "How well each candidate separates buyers from non-buyers (test customers; "
        "dot = the model's chosen threshold)"
    )
    _decorate_interactive_roc_pr(interactive, base_rate)
    return fig, interactive


def _roc_pr_coordinates(part: pd.DataFrame) -> dict[str, tuple[Any, Any]]:
    y, proba = part[LABEL_COLUMN].to_numpy(), part["probability"].to_numpy()
    fpr, tpr, _ = roc_curve(y, proba)
    precision, recall, _ = precision_recall_curve(y, proba)
    decided = part["prediction"].to_numpy().astype(bool)
    positives = y == 1
    tp = int((decided & positives).sum())
    point_recall = tp / max(int(positives.sum()), 1)
    point_fpr = int((decided & ~positives).sum()) / max(int((~positives).sum()), 1)
    point_precision = tp / max(int(decided.sum()), 1)
    return {
        "roc": (fpr, tpr),
        "pr": (recall, precision),
        "roc_point": (point_fpr, point_recall),
        "pr_point": (point_recall, point_precision),
    }


def _decorate_roc_pr(roc_ax: Any, pr_ax: Any, base_rate: float) -> None:
    roc_ax.plot([0, 1], [0, 1], ls="--", color=GREY, label="Random guessing")
    roc_ax.set(
        xlabel="False positive rate (non-buyers targeted)",
        ylabel="True positive rate (buyers found = recall)",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    pr_ax.axhline(
        base_rate, ls="--", color=GREY, label=f"Random guessing ({base_rate:.0%})"
    )
    pr_ax.set(
        xlabel="Recall (share of buyers found)",
        ylabel="Precision (share of targeted who buy)",
        title="Precision-recall curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    for ax, where in ((roc_ax, "lower right"), (pr_ax, "lower left")):
        ax.legend(loc=where, fontsize=9)
        ax.grid(alpha=0.3)


def _add_roc_pr_traces(
    fig: go.Figure,
    curves: dict[str, tuple[Any, Any]],
    label: str,
    colour: str,
    width: float,
    auc: float,
    ap: float,
) -> None:
    group = dict(legendgroup=label, line={"color": colour, "width": width})
    fig.add_trace(
        go.Scatter(
            x=curves["roc"][0],
            y=curves["roc"][1],
            mode="lines",
            name=f"{label}: AUC {auc:.3f}",
            **group,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=curves["pr"][0],
            y=curves["pr"][1],
            mode="lines",
            name=f"{label}: AP {ap:.3f}",
            **group,
        ),
        row=1,
        col=2,
    )
    for col, (x, y) in ((1, curves["roc_point"]), (2, curves["pr_point"])):
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                showlegend=False,
                legendgroup=label,
                name=f"{label} at its threshold",
                marker={
                    "color": colour,
                    "size": 11,
                    "line": {"color": "black", "width": 1},
                },
            ),
            row=1,
            col=col,
        )


def _decorate_interactive_roc_pr(fig: go.Figure, base_rate: float) -> None:
    dash = {"color": GREY, "dash": "dash"}
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dash, name="Random guessing"),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[base_rate, base_rate],
            mode="lines",
            line=dash,
            name=f"Random guessing ({base_rate:.0%} buy)",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(
        title_text="False positive rate (non-buyers targeted)", row=1, col=1
    )
    fig.update_yaxes(title_text="True positive rate (buyers found)", row=1, col=1)
    fig.update_xaxes(title_text="Recall (share of buyers found)", row=1, col=2)
    fig.update_yaxes(title_text="Precision (share of targeted who buy)", row=1, col=2)
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(
        title="How well each candidate separates buyers from non-buyers "
        "(test customers; dot = chosen threshold)",
        template=PLOTLY_TEMPLATE,
        legend={"orientation": "h", "y": -0.2},
    )


# ---------------------------------------------------------------- threshold curves
THRESHOLD_SERIES = {
    "precision": "Precision (share of targeted who buy)",
    "recall": "Recall (share of buyers reached)",
    "f1": "F1 (balance of the two)",
    "contacted_share": "Share of customers targeted",
}


def threshold_figures(
    curves: pd.DataFrame, *, threshold: float, metric: str, model: str
) -> tuple[Figure, go.Figure]:
    """Precision, recall, F1 and share targeted against the decision threshold."""
    title = (
        f"Choosing the threshold: {display_name(model)} on the test customers\n"
        f"(chosen {threshold:.2f}, tuned on the validation part for {metric})"
    )
    fig = Figure(figsize=(8.5, 5.8), layout="constrained")
    ax = fig.add_subplot()
    for (column, label), colour in zip(THRESHOLD_SERIES.items(), PALETTE, strict=False):
        style = ":" if column == "contacted_share" else "-"
        ax.plot(curves["threshold"], curves[column], style, color=colour, label=label)
    ax.axvline(threshold, color="black", ls="--", lw=1.2)
    ax.annotate(
        f"chosen threshold {threshold:.2f}",
        xy=(threshold, 1.0),
        xytext=(6, -4),
        textcoords="offset points",
        va="top",
        fontsize=10,
    )
    ax.set(
        xlabel="Decision threshold (target customers whose purchase probability "
        "is at least this)",
        ylabel="Share",
        xlim=(0, 1),
        ylim=(0, 1.05),
        title=title,
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize=9)
    ax.grid(alpha=0.3)
    interactive = go.Figure(
        [
            go.Scatter(
                x=curves["threshold"],
                y=curves[column],
                mode="lines",
                name=label,
                line={
                    "color": colour,
                    "dash": "dot" if column == "contacted_share" else "solid",
                },
            )
            for (column, label), colour in zip(
                THRESHOLD_SERIES.items(), PALETTE, strict=False
            )
        ]
    )
    interactive.add_vline(
        x=threshold,
        line={"color": "black", "dash": "dash"},
        annotation_text=f"chosen threshold {threshold:.2f}",
    )
    interactive.update_layout(
        title=title.replace("\n", "<br>"),
        xaxis={"title": "Decision threshold", "range": [0, 1]},
        yaxis={"title": "Share", "range": [0, 1.05], "tickformat": ".0%"},
        template=PLOTLY_TEMPLATE,
    )
    return fig, interactive


# ---------------------------------------------------------------- calibration
def calibration_figure(calibration: Mapping[str, Any], *, model: str) -> Figure:
    """Reliability curve: predicted purchase probability against what happened."""
    bins = pd.DataFrame(calibration["bins"])
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
            f"Brier score {calibration['brier_score']:.3f} "
            f"(always predicting the purchase rate: "
            f"{calibration['reference_brier_score']:.3f}; lower is better)"
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


# ---------------------------------------------------------------- gain and lift
def gain_lift_figures(deciles: pd.DataFrame, *, model: str) -> tuple[Figure, go.Figure]:
    """Cumulative gain and lift by decile of predicted purchase probability."""
    share = np.concatenate([[0.0], deciles["cumulative_customers_share"]])
    gain = np.concatenate([[0.0], deciles["cumulative_gain"]])
    labels = [str(d) for d in deciles["decile"]]
    title = (
        f"Contacting the most likely buyers first: {display_name(model)}, "
        "test customers"
    )
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    gain_ax, lift_ax = fig.subplots(1, 2)
    gain_ax.plot(share, gain, "o-", color=PALETTE[0], label=display_name(model))
    gain_ax.plot([0, 1], [0, 1], ls="--", color=GREY, label="Contacting at random")
    gain_ax.set(
        xlabel="Share of customers contacted (highest probability first)",
        ylabel="Share of all buyers reached",
        title="Cumulative gain",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    gain_ax.legend(loc="lower right")
    lift_ax.bar(labels, deciles["lift"], color=PALETTE[0])
    lift_ax.axhline(1.0, ls="--", color=GREY, label="Average customer (lift 1)")
    lift_ax.set(
        xlabel="Decile (1 = the 10% most likely to buy)",
        ylabel="Lift: purchase rate / average purchase rate",
        title="Lift by decile",
    )
    lift_ax.legend(loc="upper right")
    for ax in (gain_ax, lift_ax):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    interactive = make_subplots(
        rows=1, cols=2, subplot_titles=("Cumulative gain", "Lift by decile")
    )
    interactive.add_trace(
        go.Scatter(
            x=share,
            y=gain,
            mode="lines+markers",
            name=display_name(model),
            line={"color": PALETTE[0]},
        ),
        row=1,
        col=1,
    )
    interactive.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="Contacting at random",
            line={"color": GREY, "dash": "dash"},
        ),
        row=1,
        col=1,
    )
    interactive.add_trace(
        go.Bar(
            x=labels,
            y=deciles["lift"],
            name="Lift",
            marker={"color": PALETTE[0]},
            customdata=deciles[["customers", "purchasers", "purchase_rate"]],
            hovertemplate="decile %{x}: lift %{y:.2f}<br>%{customdata[1]} of "
            "%{customdata[0]} bought (%{customdata[2]:.0%})<extra></extra>",
        ),
        row=1,
        col=2,
    )
    interactive.add_hline(y=1.0, line={"color": GREY, "dash": "dash"}, row=1, col=2)
    interactive.update_xaxes(title_text="Share of customers contacted", row=1, col=1)
    interactive.update_yaxes(title_text="Share of all buyers reached", row=1, col=1)
    interactive.update_xaxes(title_text="Decile (1 = most likely to buy)", row=1, col=2)
    interactive.update_yaxes(title_text="Lift", row=1, col=2)
    interactive.update_layout(title=title, template=PLOTLY_TEMPLATE)
    return fig, interactive


# ---------------------------------------------------------------- feature importance
def feature_importance_figure(
    importance: pd.DataFrame, *, model: str, kind: str, top: int
) -> Figure:
    """The model's own importance next to permutation importance on the test part."""
    fig = Figure(
        figsize=(13, 0.35 * min(top, len(importance)) + 2.2), layout="constrained"
    )
    own_ax, perm_ax = fig.subplots(1, 2)
    own = importance.nlargest(top, "model_importance").iloc[::-1]
    own_ax.barh(own["feature"], own["model_importance"], color=PALETTE[0])
    own_ax.set(
        xlabel=f"Share of the model's total importance ({kind})",
        ylabel="Engineered feature (model-matrix column)",
        title=f"{display_name(model)}'s own importance\n({kind})",
    )
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
    for ax in (own_ax, perm_ax):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"Which engineered features drive the purchase prediction "
        f"(top {min(top, len(importance))})"
    )
    return fig
