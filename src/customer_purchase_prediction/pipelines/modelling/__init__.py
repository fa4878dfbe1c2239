"""Validated sessions in; the selected, packaged model and its CV table out."""

from customer_purchase_prediction.pipelines.modelling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
