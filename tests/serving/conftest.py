"""Each serving test leaves the service's loggers as it found them
(``kedro serve`` gives them their own handlers, for a process of its own)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from customer_purchase_prediction.serving.observability import SERVICE_LOGGERS


@pytest.fixture(autouse=True)
def _service_loggers_restored() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in SERVICE_LOGGERS]
    saved = [
        (found, found.handlers[:], found.propagate, found.level) for found in loggers
    ]
    yield
    for found, handlers, propagate, level in saved:
        found.handlers = handlers
        found.propagate = propagate
        found.setLevel(level)
