"""Wiring of the registry gate."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.registry.nodes import compare_with_champion


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Compare the new model with the champion on the new run's test part."""
    return Pipeline(
        [
            Node(
                func=compare_with_champion,
                inputs=[
                    "purchase_model",
                    "champion_model",
                    "test_sessions",
                    "params:registry",
                    "params:business",
                ],
                outputs="registry_decision",
                name="compare_with_champion",
            )
        ]
    )
