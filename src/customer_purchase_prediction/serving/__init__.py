"""The REST scoring service: ``kedro serve``, or ``uvicorn --factory
customer_purchase_prediction.serving:create_app``.

The service adds transport, never logic: every prediction is
``PurchasePredictor``'s, so a session gets the same bits over HTTP as from
Python and from the batch pipeline.
"""

from customer_purchase_prediction.serving.app import create_app

__all__ = ["create_app"]
