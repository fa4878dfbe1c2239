"""Wiring of the monitoring pipeline (never part of ``__default__``).

``kedro run --pipelines=monitoring --params=outcomes_path=FILE`` joins the
outcomes to the predictions and writes realised performance under
``data/08_reporting/``.
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.monitoring.nodes import (
    join_outcome_rows,
    measure_realised_performance,
    realised_performance_figure,
    realised_performance_page,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Join outcomes to predictions, measure, plot, render."""
    return Pipeline(
        [
            Node(
                func=join_outcome_rows,
                inputs=["purchase_predictions", "outcomes"],
                outputs=["joined_outcomes", "rejected_outcomes"],
                name="join_outcomes",
            ),
            Node(
                func=measure_realised_performance,
                inputs=[
                    "purchase_predictions",
                    "joined_outcomes",
                    "rejected_outcomes",
                    "params:business",
                    "params:monitoring",
                ],
                outputs="realised_performance",
                name="measure_realised_performance",
            ),
            Node(
                func=realised_performance_figure,
                inputs="realised_performance",
                outputs="realised_performance_plot",
                name="plot_realised_performance",
            ),
            Node(
                func=realised_performance_page,
                inputs="realised_performance",
                outputs="monitoring_html",
                name="render_realised_performance",
            ),
        ]
    )
