"""The REST scoring service: ``kedro serve``, or ``uvicorn --factory
customer_purchase_prediction.serving:create_app``.

The service adds transport, never logic: every prediction is
``PurchasePredictor``'s, so a session gets the same bits over HTTP as from
Python and from the batch pipeline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that ``serving.config`` (read by every
    # ``kedro run``'s parameter checks) does not pull in FastAPI and the model.
    if name == "create_app":
        from customer_purchase_prediction.serving.app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
