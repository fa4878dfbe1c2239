"""Validated sessions in; the split, the fitted feature transformer and a feature table out."""

from customer_purchase_prediction.pipelines.feature_engineering.pipeline import (
    create_pipeline,
)

__all__ = ["create_pipeline"]
