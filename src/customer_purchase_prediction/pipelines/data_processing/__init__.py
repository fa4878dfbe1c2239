"""Raw sessions in; validated sessions, rejected rows and a quality report out."""

from customer_purchase_prediction.pipelines.data_processing.pipeline import (
    create_pipeline,
)

__all__ = ["create_pipeline"]
