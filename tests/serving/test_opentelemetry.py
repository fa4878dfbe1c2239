"""FastAPI's native OpenTelemetry is off unless ``serving.opentelemetry`` asks for it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.telemetry import _asgi
from fastapi.testclient import TestClient

from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings


def _provider_lookups(
    monkeypatch: pytest.MonkeyPatch, predictor: PurchasePredictor, on: bool
) -> int:
    """How often three requests make FastAPI look for a tracer provider."""
    calls = []
    real = _asgi.trace.get_tracer_provider

    def counted() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(_asgi.trace, "get_tracer_provider", counted)
    app = create_app(predictor, settings=ServiceSettings(opentelemetry=on))
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/health/live").status_code == 200
    return len(calls)


def test_no_request_asks_for_an_opentelemetry_provider_by_default(
    monkeypatch: pytest.MonkeyPatch, trained_model: Any
) -> None:
    predictor = PurchasePredictor(trained_model)
    assert ServiceSettings().opentelemetry is False
    assert _provider_lookups(monkeypatch, predictor, on=False) == 0
    assert _provider_lookups(monkeypatch, predictor, on=True) >= 3
