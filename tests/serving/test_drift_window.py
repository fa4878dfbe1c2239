"""The service's rolling drift window: GET /v1/monitoring/drift and the gauges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.drift_window import DriftWindow
from customer_purchase_prediction.synthetic import generate_sessions


@pytest.fixture
def client(trained_model: Any) -> Iterator[TestClient]:
    app = create_app(
        PurchasePredictor(trained_model),
        settings=ServiceSettings(max_batch=1000, drift_window=400),
    )
    with TestClient(app) as test_client:
        yield test_client


def _sessions(rows: int, seed: int, shift: str | None = None) -> list[dict[str, Any]]:
    # No text in numeric columns: the batch schema would refuse the request.
    raw, _ = generate_sessions(
        rows, seed, labelled=False, shift=shift, messy_fraction=0
    )
    frame = raw.astype("object").where(raw.notna(), None)
    return frame.to_dict(orient="records")


def test_an_empty_window_is_not_judged(client: TestClient) -> None:
    answer = client.get("/v1/monitoring/drift")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "not_judged"
    assert body["reason"].startswith("too small to judge")
    assert body["window"] == {"size": 400, "sessions": 0}


def test_the_window_keeps_the_last_sessions_and_judges_them(
    client: TestClient,
) -> None:
    fresh = _sessions(300, 31)
    shifted = _sessions(500, 32, "longer_sessions")
    assert client.post("/v1/predict/batch", json={"sessions": fresh}).is_success
    body = client.get("/v1/monitoring/drift").json()
    assert body["window"]["sessions"] == 300
    assert body["status"] != "alert", body["reason"]
    client.post("/v1/predict/batch", json={"sessions": shifted[:250]})
    client.post("/v1/predict/batch", json={"sessions": shifted[250:]})
    body = client.get("/v1/monitoring/drift").json()
    assert body["window"] == {"size": 400, "sessions": 400}  # the last 400 only
    assert body["status"] == "alert"
    assert body["columns"]["time_spent"]["status"] == "alert"
    assert "time_spent" in body["alerting"]
    metrics = client.get("/metrics").text
    assert 'purchase_drift_status{part="time_spent"} 2.0' in metrics
    assert 'purchase_drift_status{part="batch"} 2.0' in metrics
    assert 'purchase_drift_psi{part="time_spent"}' in metrics


def test_single_predictions_and_refusals_enter_the_window(
    client: TestClient,
) -> None:
    session = _sessions(1, 5)[0]
    assert client.post("/v1/predict", json=session).status_code == 200
    bad = {**session, "time_spent": -1}
    assert client.post("/v1/predict", json=bad).status_code == 422
    assert client.get("/v1/monitoring/drift").json()["window"]["sessions"] == 2


def test_a_customer_scored_twice_is_no_duplicate(trained_model: Any) -> None:
    window = DriftWindow(500)
    sessions = _sessions(150, 8)
    again = [dict(s, customer_id=sessions[0]["customer_id"]) for s in sessions]
    window.add(again, [0.5] * len(again))
    report = window.report(trained_model)
    assert report["rows"]["in"] == 150
    assert "customer_id:duplicated" not in str(report)
