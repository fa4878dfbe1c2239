"""Customer Purchase Prediction: who is likely to buy, from browsing sessions."""

__version__ = "0.1.0"
