"""The registry gate: is the new model at least as good as the champion?"""

from customer_purchase_prediction.pipelines.registry.pipeline import create_pipeline

__all__ = ["create_pipeline"]
