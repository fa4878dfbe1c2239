"""Metrics (Prometheus, ``GET /metrics``) and one access-log line per request.

Each app has its own ``CollectorRegistry`` (tests build several apps). Requests
are counted and timed per route template (``/v1/predict``, not the raw path;
a path no route matches is ``unmatched``), method (a method HTTP does not
define is ``other``) and status; the routes call
``record_scores`` with each request's probabilities and rejects by rule.

With several uvicorn workers each worker counts its own requests; ``kedro serve
--workers N`` therefore sets ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode), and ``/metrics`` then sums every worker's files, whichever
worker answers the scrape.

The access log (logger ``customer_purchase_prediction.serving.access``) has one
JSON line per request: method, path, status, latency in ms, model version;
never a header (the API key), a query value or a session's contents.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.logging import DefaultFormatter

from customer_purchase_prediction.serving.config import ServiceSettings

PACKAGE_LOGGER = "customer_purchase_prediction"
ACCESS_LOGGER = "customer_purchase_prediction.serving.access"
access_logger = logging.getLogger(ACCESS_LOGGER)


MAX_LOGGED_PATH = 2048  # a 60 kB path is not written whole to every line


def _logged(path: str) -> str:
    if len(path) <= MAX_LOGGED_PATH:
        return path
    return f"{path[:MAX_LOGGED_PATH]}... ({len(path):,} characters)"


def package_handler() -> logging.Handler:
    """The package's logs on stderr, worded as uvicorn's own (``INFO:  ...``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    return handler


def access_handler() -> logging.Handler:
    """The access lines on stdout, each line the JSON alone."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


# Each of the service's loggers, at INFO, to its own handler (not the root's).
SERVICE_LOGGERS = {PACKAGE_LOGGER: package_handler, ACCESS_LOGGER: access_handler}


def ensure_service_logging() -> None:
    """Give the service's loggers their handlers when nothing else has.

    ``kedro serve`` configures them (``server.log_config``); ``uvicorn
    --factory`` configures only its own, so the service's start-up line and
    access lines would go nowhere. Logging an application already configured
    (a handler on these loggers or the root's) is left as it is.
    """
    if not logging.getLogger(PACKAGE_LOGGER).hasHandlers():
        use_service_logging()


def use_service_logging() -> None:
    """The service's loggers at INFO, each to its own handler only."""
    for name, make in SERVICE_LOGGERS.items():
        found = logging.getLogger(name)
        found.handlers = [make()]
        found.setLevel(logging.INFO)
        found.propagate = False


MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
OTHER = "other"
# The methods HTTP defines (RFC 9110 and PATCH); the metrics' method label.
HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
SCORE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))


@dataclass(frozen=True)
class ServiceMetrics:
    """The app's metrics, in its own registry."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rejects: Counter
    scores: Histogram
    model: Gauge


def create_metrics() -> ServiceMetrics:
    """A fresh registry with the service's metrics."""
    disable_created_metrics()  # no *_created series: scrapers compute rates
    registry = CollectorRegistry(auto_describe=True)
    labels = ("method", "route", "status")
    return ServiceMetrics(
        registry=registry,
        requests=Counter(
            "purchase_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels,
            registry=registry,
        ),
        latency=Histogram(
            "purchase_http_request_duration_seconds",
            "Time from request to the end of the response, in seconds",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        rejects=Counter(
            "purchase_rejects",
            "Sessions refused by the data contract, by rule",
            ("rule",),
            registry=registry,
        ),
        scores=Histogram(
            "purchase_probability",
            "Purchase probabilities returned (the score distribution)",
            buckets=SCORE_BUCKETS,
            registry=registry,
        ),
        model=Gauge(
            "purchase_model_info",
            "The model served (1 for its name and version)",
            ("model_name", "version"),
            registry=registry,
            multiprocess_mode="max",
        ),
    )


def install_observability(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the metrics endpoint and the access log to ``app``."""
    del settings  # nothing to configure yet; the seam keeps create_app uniform
    metrics = create_metrics()
    app.state.metrics = metrics

    @app.api_route(METRICS_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        """The metrics in Prometheus' text format."""
        return Response(metrics_text(metrics), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestObserver, metrics=metrics, owner=app)


def metrics_text(metrics: ServiceMetrics) -> bytes:
    """The exposition: this process's registry, or every worker's files."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if directory and os.path.isdir(directory):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(metrics.registry)


def record_model(app: FastAPI) -> None:
    """Publish the served model's name and version (called at start-up)."""
    model = app.state.predictor.model
    app.state.metrics.model.labels(str(model.name), str(model.version)).set(1)


def record_scores(
    app: FastAPI, probabilities: Sequence[float], rejects_by_rule: Mapping[str, int]
) -> None:
    """Count a request's scores (their distribution) and its rejects by rule."""
    metrics: ServiceMetrics = app.state.metrics
    observe = metrics.scores.observe
    for probability in probabilities:
        observe(float(probability))
    for rule, count in rejects_by_rule.items():
        if count:
            metrics.rejects.labels(str(rule)).inc(count)


class RequestObserver:
    """Times each request, counts it, and writes its access-log line."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, owner: FastAPI):
        self.app = app
        self.metrics = metrics
        self.owner = owner
        self.templates: set[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting its status and time."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            self._observe(scope, status, time.perf_counter() - start)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or self._template(scope)
        method = scope.get("method", "")
        # Any method a client makes up is "other": no request adds a series.
        labels = (method if method in HTTP_METHODS else OTHER, route, str(status))
        self.metrics.requests.labels(*labels).inc()
        self.metrics.latency.labels(*labels).observe(seconds)
        if access_logger.isEnabledFor(logging.INFO):
            predictor = getattr(self.owner.state, "predictor", None)
            version = getattr(getattr(predictor, "model", None), "version", None)
            line = json.dumps(
                {
                    "method": method,
                    "path": _logged(scope.get("path", "")),
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "model_version": version,
                }
            )
            # The record made directly: ``info`` would also walk the stack for
            # the caller's file and line, which every line would name the same.
            access_logger.handle(
                access_logger.makeRecord(
                    access_logger.name, logging.INFO, __file__, 0, line, (), None
                )
            )

    def _template(self, scope: Scope) -> str:
        """The route a request refused before routing (401, 413) was meant for.

        Every route of the service is a fixed path, so the path is its template;
        any other path is ``unmatched`` (a fuzzer's paths add no series).
        """
        if self.templates is None:  # every route's path, /docs and /openapi.json too
            self.templates = {
                *(getattr(route, "path", None) for route in self.owner.routes),
                METRICS_PATH,
            } - {None}
        path = scope.get("path", "")
        return path if path in self.templates else UNMATCHED
