"""The reports' words: Jinja2 templates in ``templates/`` and their filters.

Python computes (``computations``, ``summaries``); templates say. The filters
here are the only place a number is formatted for a reader: money, shares,
numbers, thousands, model and metric names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt

from customer_purchase_prediction.candidates import display_name
from customer_purchase_prediction.pipelines.reporting.summaries import METRIC_LABELS


def money(value: float, currency: str, digits: int = 0) -> str:
    """``-$1,234``: the sign before the currency, thousands separated."""
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(value):,.{digits}f}"


def share(value: float, digits: int = 1) -> str:
    """``12.5%``."""
    return f"{value:.{digits}%}"


def num(value: float | None, digits: int = 3) -> str:
    """A number to ``digits`` decimals; ``n/a`` when there is none (or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def thousands(value: int) -> str:
    """``1,000``."""
    return f"{value:,}"


def metric_label(metric: str) -> str:
    """A metric as people say it, e.g. ``ROC AUC``."""
    return METRIC_LABELS.get(metric, metric)


def names(models: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C`` in display names."""
    said = [display_name(m) for m in models]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


FILTERS = {
    "money": money,
    "share": share,
    "num": num,
    "thousands": thousands,
    "metric": metric_label,
    "model": display_name,
    "names": names,
}


@cache
def environment() -> Environment:
    """The templates of this package; HTML templates are autoescaped."""
    env = Environment(
        loader=PackageLoader("customer_purchase_prediction.pipelines.reporting"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)


def markdown_to_html(text: str) -> str:
    """A Markdown report as HTML (CommonMark with tables), for the HTML report."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
