"""Wiring of the modelling pipeline."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.modelling.nodes import (
    calibrate_candidates,
    evaluate_on_test,
    fit_candidates,
    package_model,
    select_model,
    tune_candidates,
)
from customer_purchase_prediction.pipelines.monitoring.nodes import (
    build_reference_profile,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Tune, blend, fit and calibrate candidates, select one, test once, package it."""
    return Pipeline(
        [
            Node(
                func=tune_candidates,
                inputs=[
                    "train_sessions",
                    "feature_transformer",
                    "params:modelling",
                    "params:business",
                ],
                outputs=[
                    "candidate_tuning",
                    "cv_results",
                    "search_trials",
                    "out_of_fold_predictions",
                ],
                name="tune_candidates",
            ),
            Node(
                func=fit_candidates,
                inputs=[
                    "train_sessions",
                    "feature_transformer",
                    "candidate_tuning",
                    "params:modelling",
                    # Every training row of the partitions in --env=dask (a
                    # refit on all of them); None otherwise, no file read.
                    "training_rows",
                ],
                outputs="candidate_models",
                name="fit_candidates",
            ),
            Node(
                func=calibrate_candidates,
                inputs=[
                    "candidate_models",
                    "out_of_fold_predictions",
                    "validation_sessions",
                    "params:modelling",
                ],
                outputs="candidate_calibrators",
                name="calibrate_candidates",
            ),
            Node(
                func=select_model,
                inputs=[
                    "candidate_models",
                    "candidate_calibrators",
                    "out_of_fold_predictions",
                    "validation_sessions",
                    "candidate_tuning",
                    "params:modelling",
                    "params:business",
                ],
                outputs="model_selection",
                name="select_model",
            ),
            Node(
                func=evaluate_on_test,
                inputs=[
                    "candidate_models",
                    "candidate_calibrators",
                    "test_sessions",
                    "model_selection",
                    "params:business",
                ],
                outputs=["test_predictions", "test_metrics"],
                name="evaluate_on_test",
            ),
            Node(
                func=build_reference_profile,
                inputs=["train_sessions", "test_predictions", "data_quality_report"],
                outputs="reference_profile",
                name="build_reference_profile",
            ),
            Node(
                func=package_model,
                inputs=[
                    "candidate_models",
                    "candidate_calibrators",
                    "model_selection",
                    "candidate_tuning",
                    "test_metrics",
                    "train_sessions",
                    "data_quality_report",
                    "params:modelling",
                    "reference_profile",
                ],
                outputs="purchase_model",
                name="package_model",
            ),
        ]
    )
