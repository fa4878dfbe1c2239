"""Wiring of the inference pipeline (never part of ``__default__``)."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.inference.nodes import (
    rank_predictions,
    score_sessions,
    summarise_inference,
    validate_new_sessions,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Validate new sessions, score the valid ones, summarise the run."""
    return Pipeline(
        [
            Node(
                func=validate_new_sessions,
                inputs="new_sessions",
                outputs=[
                    "new_sessions_validated",
                    "rejected_new_sessions",
                    "new_sessions_summary",
                ],
                name="validate_new_sessions",
            ),
            Node(
                func=score_sessions,
                inputs=["new_sessions_validated", "purchase_model"],
                outputs="scored_sessions",
                name="score_sessions",
            ),
            Node(
                func=rank_predictions,
                inputs="scored_sessions",
                outputs="purchase_predictions",
                name="rank_predictions",
            ),
            Node(
                func=summarise_inference,
                inputs=[
                    "scored_sessions",
                    "rejected_new_sessions",
                    "new_sessions_summary",
                    "purchase_model",
                ],
                outputs="inference_summary",
                name="summarise_inference",
            ),
        ]
    )
