"""Wiring of the monitoring pipeline (never part of ``__default__``).

``kedro run --pipelines=monitoring --params=outcomes_path=FILE`` joins the
outcomes to the predictions (``predictions_path=`` a file, a folder or a glob
of past predictions files; the current predictions file by default) and writes
realised performance under ``data/08_reporting/``.
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.monitoring.nodes import (
    collect_prediction_rows,
    join_outcome_rows,
    measure_realised_performance,
    realised_performance_figure,
    realised_performance_page,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Collect predictions, join outcomes to them, measure, plot, render."""
    return Pipeline(
        [
            Node(
                func=collect_prediction_rows,
                inputs="monitored_predictions",
                outputs=["counted_predictions", "rejected_predictions"],
                name="collect_predictions",
            ),
            Node(
                func=join_outcome_rows,
                inputs=["counted_predictions", "outcomes"],
                outputs=["joined_outcomes", "rejected_outcomes"],
                name="join_outcomes",
            ),
            Node(
                func=measure_realised_performance,
                inputs=[
                    "counted_predictions",
                    "joined_outcomes",
                    "rejected_outcomes",
                    "rejected_predictions",
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
