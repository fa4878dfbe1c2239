"""Saved training artifacts in; comparison, metrics, plots, business impact and model card out."""

from customer_purchase_prediction.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
