"""Customer Purchase Prediction: who is likely to buy, from browsing sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["PurchasePredictor"]

if TYPE_CHECKING:
    from customer_purchase_prediction.predictor import PurchasePredictor


def __getattr__(name: str) -> Any:
    # Imported on first use: `kedro` imports this package on every command, and
    # the predictor pulls in scikit-learn and XGBoost.
    if name == "PurchasePredictor":
        from customer_purchase_prediction.predictor import PurchasePredictor  # noqa: PLC0415

        return PurchasePredictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
