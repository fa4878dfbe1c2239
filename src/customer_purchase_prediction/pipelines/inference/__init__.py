"""New sessions + the model artifact in; ranked predictions, rejects and a summary out."""

from customer_purchase_prediction.pipelines.inference.pipeline import create_pipeline

__all__ = ["create_pipeline"]
