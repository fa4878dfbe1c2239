"""Wiring of the feature_engineering pipeline."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
    build_feature_table,
    check_training_data,
    fit_feature_transformer,
    split_sessions,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Split the sessions; fit the feature transformer on the training part."""
    return Pipeline(
        [
            # Degenerate data (all rejected, one class, too few rows for the
            # split and CV, an empty column) stops here, before any model.
            Node(
                func=check_training_data,
                inputs=["sessions", "data_quality_report", "params:modelling"],
                outputs="training_sessions",
                name="check_training_data",
            ),
            # The split fractions are a modelling choice (modelling.split), but
            # the split comes first so that every later step runs downstream.
            Node(
                func=split_sessions,
                inputs=["training_sessions", "params:modelling"],
                outputs=["train_sessions", "validation_sessions", "test_sessions"],
                name="split_sessions",
            ),
            Node(
                func=fit_feature_transformer,
                inputs=[
                    "train_sessions",
                    "params:feature_engineering",
                    # Every training row of the partitions in --env=dask (the
                    # statistics over all of them); None otherwise, no file read.
                    "training_rows",
                ],
                outputs="feature_transformer",
                name="fit_feature_transformer",
            ),
            Node(
                func=build_feature_table,
                inputs=[
                    "feature_transformer",
                    "train_sessions",
                    "validation_sessions",
                    "test_sessions",
                ],
                outputs="session_features",
                name="build_feature_table",
            ),
        ]
    )
