"""The ASGI app: one ``PurchasePredictor`` loaded at start-up, served under ``/v1``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from customer_purchase_prediction import __version__
from customer_purchase_prediction.artifact import is_recorded_artifact
from customer_purchase_prediction.predictor import (
    PurchasePredictor,
    is_model_reference,
)
from customer_purchase_prediction.serving.coalescing import Coalescer
from customer_purchase_prediction.serving.config import (
    VARIABLES,
    ServiceConfigError,
    ServiceSettings,
    factory_settings,
)
from customer_purchase_prediction.serving.drift_window import (
    install_drift_window,
)
from customer_purchase_prediction.serving.drift_window import router as drift_router
from customer_purchase_prediction.serving.observability import (
    ensure_service_logging,
    install_observability,
    record_model,
)
from customer_purchase_prediction.serving.routes import install_api, router
from customer_purchase_prediction.serving.security import (
    SECURITY_RESPONSES,
    document_api_key,
    install_security,
)
from customer_purchase_prediction.serving.supervision import follow_supervisor

logger = logging.getLogger(__name__)


def create_app(
    predictor: PurchasePredictor | None = None,
    *,
    settings: ServiceSettings | None = None,
) -> FastAPI:
    """The service, scoring with ``predictor`` (else the model ``settings`` name).

    Without a predictor the model is loaded once, at start-up: the project's
    champion, or ``settings.model`` (a registry version or alias, a Kedro
    version, or an artifact path). Its hash is checked as on every load
    (``artifact.py``).
    """
    if settings is None:  # as uvicorn's factory: maybe a worker of kedro serve
        follow_supervisor()
    settings = settings or factory_settings()
    ensure_service_logging()  # under ``uvicorn --factory``, nothing else does

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.predictor is None:
            app.state.predictor = load_predictor(settings)
        model = app.state.predictor.model
        logger.info(
            "Serving %s version %s (sha256 %s)",
            model.name,
            model.version,
            (model.artifact or {}).get("sha256"),
        )
        record_model(app)
        # The model is some 250,000 long-lived objects: a full collection of
        # the cyclic GC would walk them all (~0.1 s, a stall every request in
        # flight pays). Frozen, the collector skips them; they live as long as
        # the process anyway.
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(
        title="Customer Purchase Prediction",
        version=__version__,
        summary="How likely each browsing session is to end in a purchase.",
        lifespan=lifespan,
        # /v1/predict/ is a 404, not a 307 to a Location built from the
        # client's Host header.
        redirect_slashes=False,
        # Off unless asked for: FastAPI would otherwise ask on every request
        # whether an OpenTelemetry provider is configured (/metrics is the
        # service's own Prometheus text either way).
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.predictor = predictor
    app.state.settings = settings
    # POST /v1/predict requests arriving together share one model call.
    app.state.coalescer = Coalescer(lambda: app.state.predictor, settings.coalesce)
    # Middleware added last runs first: the observer also counts and logs the
    # requests the guard refuses.
    install_security(app, settings)
    install_observability(app, settings)
    install_drift_window(app, settings.drift_window)  # GET /v1/monitoring/drift
    install_api(app)  # one error shape; exact bounds and max_batch in OpenAPI
    # On the app itself, not as included routers (serving/route_table.py).
    router.install(app, responses=SECURITY_RESPONSES)
    drift_router.install(app, responses=SECURITY_RESPONSES)
    document_api_key(app, settings)
    return app


def load_predictor(settings: ServiceSettings) -> PurchasePredictor:
    """The model the settings name: a registered version or alias
    (``3``, ``champion``, ``models:/purchase-model/3``), a Kedro version, a
    path to an artifact, or by default the champion."""
    model: Any = settings.model
    if model and is_model_reference(model):
        return PurchasePredictor(model, project_path=settings.project_path)
    if model:
        file = Path(model)
        if settings.model_sha256 is None and file.is_file():
            if not is_recorded_artifact(file):
                # The library loads it with a warning; a service checks its hash.
                raise ServiceConfigError(
                    f"{file} is not recorded in a model manifest, so its hash "
                    "cannot be checked: give the SHA-256 it must have "
                    f"(kedro serve --sha256 HASH, or {VARIABLES['model_sha256']}) "
                    "to serve it"
                )
        return PurchasePredictor(model, sha256=settings.model_sha256)
    return PurchasePredictor(project_path=settings.project_path)
