"""Each two-format figure is defined once: the PNG and the plotly chart say the same."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure
from plotly import graph_objects as go

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.pipelines.reporting import (
    computations,
    figures,
    render,
)
from tests.pipelines.reporting.inputs import BOUGHT, PROBA, predictions


def _charts() -> dict[str, figures.Chart]:
    both = pd.concat(
        [
            predictions(model="logistic_regression", selected=False),
            predictions(PROBA[::-1].copy(), model="xgboost"),
        ]
    )
    scores = {
        "logistic_regression": {"roc_auc": 0.875, "average_precision": 0.8},
        "xgboost": {"roc_auc": 0.125, "average_precision": 0.3},
    }
    deciles = computations.decile_table(BOUGHT, PROBA, BusinessParams())
    return {
        "roc_pr": figures.roc_pr_chart(both, scores, selected="xgboost"),
        "threshold": figures.threshold_chart(
            computations.threshold_table(BOUGHT, PROBA),
            threshold=0.55,
            tuned_for="F1",
            model="xgboost",
        ),
        "gain_lift": figures.gain_lift_chart(deciles, model="xgboost"),
    }


def _plotly_axes(chart: go.Figure) -> list[tuple[str, str]]:
    layout = chart.layout
    suffixes = sorted(
        (key[len("xaxis") :] for key in layout if key.startswith("xaxis")),
        key=lambda s: int(s or 1),
    )
    return [
        (layout[f"xaxis{s}"].title.text, layout[f"yaxis{s}"].title.text)
        for s in suffixes
    ]


def _plotly_words(chart: go.Figure) -> set[str]:
    names = {trace.name for trace in chart.data if trace.showlegend is not False}
    return names | {a.text for a in chart.layout.annotations}


def _matplotlib_words(fig: Figure) -> set[str]:
    found: set[str] = set()
    for ax in fig.axes:
        legend = ax.get_legend()
        found |= {t.get_text() for t in legend.get_texts()} if legend else set()
        found |= {t.get_text() for t in ax.texts} | {ax.get_title()}
    return found - {""}


@pytest.mark.parametrize("name", ["roc_pr", "threshold", "gain_lift"])
def test_png_and_plotly_carry_the_same_title_and_axis_labels(name: str) -> None:
    chart = _charts()[name]
    static, interactive = render.to_matplotlib(chart), render.to_plotly(chart)
    assert static.get_suptitle() == chart.title
    assert interactive.layout.title.text.replace("<br>", "\n") == chart.title
    expected = [(p.x_label, p.y_label) for p in chart.panels]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in static.axes] == expected
    assert _plotly_axes(interactive) == expected


@pytest.mark.parametrize("name", ["roc_pr", "threshold", "gain_lift"])
def test_every_legend_label_and_note_is_in_both_formats(name: str) -> None:
    chart = _charts()[name]
    static, interactive = render.to_matplotlib(chart), render.to_plotly(chart)
    # Panel titles: axes titles in matplotlib, subplot annotations in plotly.
    titles = {p.title for p in chart.panels} - {""}
    assert titles <= _matplotlib_words(static)
    assert titles <= _plotly_words(interactive) or len(chart.panels) == 1
    assert _matplotlib_words(static) - titles == _plotly_words(interactive) - titles


def test_threshold_chart_says_what_the_threshold_was_tuned_for() -> None:
    chart = _charts()["threshold"]
    assert "tuned for F1 on the validation part" in chart.title
    rows = figures.threshold_chart(
        computations.threshold_table(BOUGHT, PROBA),
        threshold=0.3,
        tuned_for="Profit per customer",
        model="xgboost",
        tuned_on="the out-of-fold probabilities of the training part plus the "
        "validation part",
    )
    assert "tuned for Profit per customer on the out-of-fold" in rows.title
    assert chart.panels[0].x_label.startswith("Decision threshold")
