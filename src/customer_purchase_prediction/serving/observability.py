"""Metrics (Prometheus, ``GET /metrics``) and one access-log line per request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI

from customer_purchase_prediction.serving.config import ServiceSettings


def install_observability(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the metrics endpoint and the access log to ``app``."""


def record_scores(
    app: FastAPI, probabilities: Sequence[float], rejects_by_rule: Mapping[str, int]
) -> None:
    """Count a request's scores (their distribution) and its rejects by rule."""
