"""Wiring of the modelling pipeline."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.modelling.nodes import (
    evaluate_on_test,
    fit_candidates,
    package_model,
    select_model,
    tune_candidates,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Tune and fit candidates, select one, test once, package it."""
    return Pipeline(
        [
            Node(
                func=tune_candidates,
                inputs=["train_sessions", "feature_transformer", "params:modelling"],
                outputs=["candidate_tuning", "cv_results", "search_trials"],
                name="tune_candidates",
            ),
            Node(
                func=fit_candidates,
                inputs=[
                    "train_sessions",
                    "feature_transformer",
                    "candidate_tuning",
                    "params:modelling",
                ],
                outputs="candidate_models",
                name="fit_candidates",
            ),
            Node(
                func=select_model,
                inputs=[
                    "candidate_models",
                    "validation_sessions",
                    "candidate_tuning",
                    "params:modelling",
                ],
                outputs="model_selection",
                name="select_model",
            ),
            Node(
                func=evaluate_on_test,
                inputs=["candidate_models", "test_sessions", "model_selection"],
                outputs=["test_predictions", "test_metrics"],
                name="evaluate_on_test",
            ),
            Node(
                func=package_model,
                inputs=[
                    "candidate_models",
                    "model_selection",
                    "candidate_tuning",
                    "test_metrics",
                    "train_sessions",
                    "data_quality_report",
                    "params:modelling",
                ],
                outputs="purchase_model",
                name="package_model",
            ),
        ]
    )
