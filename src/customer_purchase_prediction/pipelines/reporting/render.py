"""Render a ``figures.Chart`` to matplotlib (the PNG) and to plotly (interactive).

Both renderers read every word from the chart: the figure title, each panel's
title and axis labels, each series' legend label and each reference line's note.
Matplotlib figures are ``matplotlib.figure.Figure`` objects (no pyplot state, no
backend until saved); plotly ones ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from plotly.subplots import make_subplots

from customer_purchase_prediction.pipelines.reporting.figures import (
    Bars,
    Chart,
    Line,
    Panel,
    Point,
    Rule,
)

PLOTLY_TEMPLATE = "plotly_white"
_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":"}


# ---------------------------------------------------------------- matplotlib
def to_matplotlib(chart: Chart) -> Figure:
    """The chart as a matplotlib figure, panels side by side."""
    fig = Figure(figsize=chart.size, layout="constrained")
    axes = fig.subplots(1, len(chart.panels), squeeze=False)[0]
    for ax, panel in zip(axes, chart.panels, strict=True):
        _draw_panel(ax, panel)
    fig.suptitle(chart.title)
    return fig


def _draw_panel(ax: Any, panel: Panel) -> None:
    for series in panel.series:
        _draw(ax, series)
    ax.set(title=panel.title, xlabel=panel.x_label, ylabel=panel.y_label)
    if panel.x_range:
        ax.set_xlim(*panel.x_range)
    if panel.y_range:
        ax.set_ylim(*panel.y_range)
    if panel.y_percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if panel.legend == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize=9)
    else:
        ax.legend(loc=panel.legend, fontsize=9)
    ax.grid(alpha=0.3)


def _draw(ax: Any, series: Line | Point | Bars | Rule) -> None:
    if isinstance(series, Line):
        ax.plot(
            series.x,
            series.y,
            _MPL_DASH[series.dash],
            marker="o" if series.markers else None,
            color=series.colour,
            lw=series.width,
            label=series.label,
        )
    elif isinstance(series, Point):
        ax.plot(series.x, series.y, "o", color=series.colour, ms=8, mec="black")
    elif isinstance(series, Bars):
        ax.bar(series.x, series.y, color=series.colour, label=series.label)
    else:
        line = ax.axhline if series.axis == "y" else ax.axvline
        line(
            series.at,
            ls=_MPL_DASH[series.dash],
            color=series.colour,
            lw=1.2,
            label=series.label,
        )
        if series.note:
            ax.annotate(
                series.note,
                xy=(series.at, 1.0) if series.axis == "x" else (1.0, series.at),
                xycoords=("data", "axes fraction")
                if series.axis == "x"
                else ("axes fraction", "data"),
                xytext=(6, -4),
                textcoords="offset points",
                va="top",
                fontsize=10,
            )


def png_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, for a page of its own."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# ---------------------------------------------------------------- plotly
def to_plotly(chart: Chart) -> go.Figure:
    """The chart as an interactive plotly figure, panels side by side."""
    panels = chart.panels
    fig = (
        make_subplots(
            rows=1, cols=len(panels), subplot_titles=[p.title for p in panels]
        )
        if len(panels) > 1
        else go.Figure()
    )
    for col, panel in enumerate(panels, start=1):
        where = {"row": 1, "col": col} if len(panels) > 1 else {}
        for series in panel.series:
            _add(fig, series, where)
        fig.update_xaxes(title_text=panel.x_label, range=panel.x_range, **where)
        fig.update_yaxes(
            title_text=panel.y_label,
            range=panel.y_range,
            tickformat=".0%" if panel.y_percent else None,
            **where,
        )
    fig.update_layout(
        title=chart.title.replace("\n", "<br>"),
        template=PLOTLY_TEMPLATE,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _add(fig: go.Figure, series: Line | Point | Bars | Rule, where: dict) -> None:
    dash = {"solid": "solid", "dash": "dash", "dot": "dot"}
    if isinstance(series, Line):
        trace: Any = go.Scatter(
            x=list(series.x),
            y=list(series.y),
            mode="lines+markers" if series.markers else "lines",
            name=series.label,
            legendgroup=series.group,
            line={
                "color": series.colour,
                "width": series.width,
                "dash": dash[series.dash],
            },
        )
    elif isinstance(series, Point):
        trace = go.Scatter(
            x=[series.x],
            y=[series.y],
            mode="markers",
            name=series.label,
            legendgroup=series.group,
            showlegend=False,
            marker={
                "color": series.colour,
                "size": 11,
                "line": {"color": "black", "width": 1},
            },
        )
    elif isinstance(series, Bars):
        trace = go.Bar(
            x=list(series.x),
            y=list(series.y),
            name=series.label,
            marker={"color": series.colour},
            hovertext=list(series.hover) or None,
            hoverinfo="text" if series.hover else None,
        )
    else:
        _add_rule(fig, series, where)
        return
    fig.add_trace(trace, **where)


def _add_rule(fig: go.Figure, rule: Rule, where: dict) -> None:
    add = fig.add_hline if rule.axis == "y" else fig.add_vline
    text = rule.note or rule.label
    add(
        rule.at,
        line={"color": rule.colour, "dash": rule.dash},
        annotation_text=text,
        **where,
    )
