"""Figures defined once: title, axis labels, series and reference lines as data.

A ``Chart`` says what a figure shows and nothing about how it is drawn;
``render.to_matplotlib`` turns it into the PNG, ``render.to_plotly`` into the
interactive chart, so the two cannot say different things. The charts here are
the ones both formats show: ROC and precision-recall curves, the threshold
curves and gain/lift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from customer_purchase_prediction.candidates import display_name
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.evaluation import threshold_rates

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
GREY = "#7f7f7f"
Dash = Literal["solid", "dash", "dot"]


@dataclass(frozen=True)
class Line:
    """A curve; ``group`` ties the curves of one model together in a legend."""

    x: Sequence[float]
    y: Sequence[float]
    label: str
    colour: str
    width: float = 1.6
    dash: Dash = "solid"
    markers: bool = False
    group: str | None = None


@dataclass(frozen=True)
class Point:
    """A marked point (outside the legend), e.g. a model at its threshold."""

    x: float
    y: float
    label: str
    colour: str
    group: str | None = None


@dataclass(frozen=True)
class Bars:
    """Bars over category labels, with a hover text per bar."""

    x: Sequence[str]
    y: Sequence[float]
    label: str
    colour: str
    hover: Sequence[str] = ()


@dataclass(frozen=True)
class Rule:
    """A horizontal (``axis="y"``) or vertical (``axis="x"``) reference line.

    ``label`` goes in the legend; ``note`` is written beside the line.
    """

    axis: Literal["x", "y"]
    at: float
    label: str | None = None
    note: str | None = None
    colour: str = GREY
    dash: Dash = "dash"


Series = Line | Point | Bars | Rule


@dataclass(frozen=True)
class Panel:
    """One set of axes."""

    x_label: str
    y_label: str
    series: tuple[Series, ...]
    title: str = ""
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    y_percent: bool = False
    legend: str = "best"  # matplotlib legend location, or "below"


@dataclass(frozen=True)
class Chart:
    """A figure: its title (lines split by newlines) and panels side by side."""

    title: str
    panels: tuple[Panel, ...]
    size: tuple[float, float] = field(default=(8.5, 5.8))


def _colours(models: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(models)}


# ---------------------------------------------------------------- ROC and PR curves
def roc_pr_chart(
    predictions: pd.DataFrame,
    scores: Mapping[str, Mapping[str, float]],
    *,
    selected: str,
) -> Chart:
    """ROC and precision-recall curves of every candidate on the test part.

    Args:
        predictions: Long table with ``model``, the label, ``probability`` and
            ``threshold`` (each model's own).
        scores: Per model its test ``roc_auc`` and ``average_precision``, quoted
            in the legend (the numbers of the metrics report).
        selected: The selected model, drawn thicker.
    """
    models = list(dict.fromkeys(predictions["model"]))
    colours = _colours(models)
    base_rate = float(
        predictions.loc[predictions["model"] == models[0], LABEL_COLUMN].mean()
    )
    roc: list[Series] = []
    pr: list[Series] = []
    for name in models:
        part = predictions[predictions["model"] == name]
        y, proba = part[LABEL_COLUMN].to_numpy(), part["probability"].to_numpy()
        fpr, tpr, _ = roc_curve(y, proba)
        precision, recall, _ = precision_recall_curve(y, proba)
        at = threshold_rates(y, proba, np.array([part["threshold"].iloc[0]]))
        label = display_name(name) + (" (selected)" if name == selected else "")
        style = {
            "colour": colours[name],
            "width": 3.0 if name == selected else 1.6,
            "group": label,
        }
        auc, ap = scores[name]["roc_auc"], scores[name]["average_precision"]
        roc.append(Line(fpr, tpr, f"{label}: AUC {auc:.3f}", **style))
        pr.append(Line(recall, precision, f"{label}: AP {ap:.3f}", **style))
        point = {"label": f"{label} at its threshold", "colour": colours[name]}
        roc.append(Point(at.false_positive_rate[0], at.recall[0], **point, group=label))
        pr.append(Point(at.recall[0], at.precision[0], **point, group=label))
    roc.append(Line([0, 1], [0, 1], "Random guessing", GREY, dash="dash"))
    pr.append(Rule("y", base_rate, label=f"Random guessing ({base_rate:.0%} buy)"))
    return Chart(
        title="How well each candidate separates buyers from non-buyers (test "
        "customers; dot = the model's chosen threshold)",
        panels=(
            Panel(
                title="ROC curve",
                x_label="False positive rate (non-buyers targeted)",
                y_label="True positive rate (buyers found = recall)",
                series=tuple(roc),
                x_range=(0, 1),
                y_range=(0, 1.01),
                legend="lower right",
            ),
            Panel(
                title="Precision-recall curve",
                x_label="Recall (share of buyers found)",
                y_label="Precision (share of targeted who buy)",
                series=tuple(pr),
                x_range=(0, 1),
                y_range=(0, 1.01),
                legend="lower left",
            ),
        ),
        size=(12, 5.2),
    )


# ---------------------------------------------------------------- threshold curves
THRESHOLD_SERIES = {
    "precision": "Precision (share of targeted who buy)",
    "recall": "Recall (share of buyers reached)",
    "f1": "F1 (balance of the two)",
    "contacted_share": "Share of customers targeted",
}


def threshold_chart(
    curves: pd.DataFrame,
    *,
    threshold: float,
    tuned_for: str,
    model: str,
    tuned_on: str = "the validation part",
) -> Chart:
    """Precision, recall, F1 and share targeted against the decision threshold.

    Args:
        curves: ``computations.threshold_table`` of the selected model.
        threshold: The model's threshold.
        tuned_for: The metric the threshold was tuned for, in words.
        model: The selected model.
        tuned_on: The rows it was tuned on, in words.
    """
    lines = tuple(
        Line(
            curves["threshold"],
            curves[column],
            label,
            colour,
            dash="dot" if column == "contacted_share" else "solid",
        )
        for (column, label), colour in zip(
            THRESHOLD_SERIES.items(), PALETTE, strict=False
        )
    )
    chosen = Rule(
        "x", threshold, note=f"chosen threshold {threshold:.2f}", colour="black"
    )
    return Chart(
        title=f"Choosing the threshold: {display_name(model)} on the test customers\n"
        f"(chosen {threshold:.2f}, tuned for {tuned_for} on {tuned_on})",
        panels=(
            Panel(
                x_label="Decision threshold (target customers whose purchase "
                "probability is at least this)",
                y_label="Share",
                series=(*lines, chosen),
                x_range=(0, 1),
                y_range=(0, 1.05),
                y_percent=True,
                legend="below",
            ),
        ),
        size=(8.5, 5.8),
    )


# ---------------------------------------------------------------- gain and lift
def gain_lift_chart(deciles: pd.DataFrame, *, model: str) -> Chart:
    """Cumulative gain and lift by decile of predicted purchase probability."""
    share = np.concatenate([[0.0], deciles["cumulative_customers_share"]])
    gain = np.concatenate([[0.0], deciles["cumulative_gain"]])
    hover = [
        f"decile {d.decile}: lift {d.lift:.2f}<br>{d.purchasers} of {d.customers} "
        f"bought ({d.purchase_rate:.0%})"
        for d in deciles.itertuples()
    ]
    name = display_name(model)
    return Chart(
        title=f"Contacting the most likely buyers first: {name}, test customers",
        panels=(
            Panel(
                title="Cumulative gain",
                x_label="Share of customers contacted (highest probability first)",
                y_label="Share of all buyers reached",
                series=(
                    Line(share, gain, name, PALETTE[0], markers=True),
                    Line([0, 1], [0, 1], "Contacting at random", GREY, dash="dash"),
                ),
                x_range=(0, 1),
                y_range=(0, 1.02),
                legend="lower right",
            ),
            Panel(
                title="Lift by decile",
                x_label="Decile (1 = the 10% most likely to buy)",
                y_label="Lift: purchase rate / average purchase rate",
                series=(
                    Bars(
                        [str(d) for d in deciles["decile"]],
                        deciles["lift"],
                        "Lift",
                        PALETTE[0],
                        hover=hover,
                    ),
                    Rule("y", 1.0, label="Average customer (lift 1)"),
                ),
                legend="upper right",
            ),
        ),
        size=(12, 5.2),
    )
