"""Outcomes that arrived later + past predictions in; realised performance out."""

from customer_purchase_prediction.pipelines.monitoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]
