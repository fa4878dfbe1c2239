"""The endpoints: health, the model, and predictions of one session or a batch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from customer_purchase_prediction.errors import InvalidRecordError

router = APIRouter()


@router.get("/health/live")
def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "live"}


@router.get("/health/ready")
def ready(request: Request) -> dict[str, str]:
    """The model is loaded and the service can score."""
    if request.app.state.predictor is None:
        raise HTTPException(status_code=503, detail="the model is not loaded yet")
    return {"status": "ready"}


@router.get("/v1/model")
def model_info(request: Request) -> dict[str, Any]:
    """What ``PurchasePredictor.get_model_info()`` says of the served model."""
    return request.app.state.predictor.get_model_info()


@router.post("/v1/predict")
def predict(request: Request, session: dict[str, Any]) -> dict[str, Any]:
    """One session in, one prediction out."""
    try:
        return request.app.state.predictor.predict(session, return_probabilities=True)
    except InvalidRecordError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
