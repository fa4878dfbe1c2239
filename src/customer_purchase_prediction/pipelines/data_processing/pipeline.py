"""Wiring of the data_processing pipeline."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.data_processing.nodes import (
    build_data_quality_report,
    validate_training_sessions,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Validate raw training sessions and report on their quality."""
    return Pipeline(
        [
            Node(
                func=validate_training_sessions,
                inputs="raw_sessions",
                outputs=["sessions", "rejected_sessions", "validation_summary"],
                name="validate_training_sessions",
            ),
            Node(
                func=build_data_quality_report,
                inputs=[
                    "sessions",
                    "rejected_sessions",
                    "validation_summary",
                    "params:data_processing",
                ],
                outputs="data_quality_report",
                name="build_data_quality_report",
            ),
        ]
    )
