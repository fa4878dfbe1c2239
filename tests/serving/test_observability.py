"""``GET /metrics`` (Prometheus text) and the one-line JSON access log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from customer_purchase_prediction.columns import ID_COLUMN, example_record
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.observability import (
    MAX_LOGGED_PATH,
    record_scores,
)

ACCESS = "customer_purchase_prediction.serving.access"
KEY = "k-observability-test-key"


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture
def app(predictor: PurchasePredictor) -> FastAPI:
    return create_app(predictor, settings=ServiceSettings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics``, by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_and_timed_per_route_method_and_status(
    client: TestClient,
) -> None:
    for _ in range(3):
        assert client.post("/v1/predict", json=example_record()).status_code == 200
    assert client.get("/health/live").status_code == 200
    found = samples(client)
    labels = {"method": "POST", "route": "/v1/predict", "status": "200"}
    assert value(found, "purchase_http_requests_total", **labels) == 3
    assert value(found, "purchase_http_request_duration_seconds_count", **labels) == 3
    assert value(found, "purchase_http_request_duration_seconds_sum", **labels) > 0
    assert (
        value(
            found,
            "purchase_http_request_duration_seconds_bucket",
            **labels,
            le="+Inf",
        )
        == 3
    )
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    assert value(found, "purchase_http_requests_total", **live) == 1
    assert not [key for key in found if key[0].endswith("_created")]


def test_unknown_paths_share_one_series(client: TestClient) -> None:
    for path in ("/nope", "/v2/predict", "/v1/predict/../x"):
        client.get(path)
    found = samples(client)
    routes = {
        dict(labels)["route"]
        for name, labels in found
        if name == "purchase_http_requests_total"
    }
    assert routes == {"unmatched"}
    assert (
        value(
            found,
            "purchase_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        == 3
    )


def test_the_documentation_routes_are_counted_by_their_path(
    client: TestClient,
) -> None:
    for path in ("/openapi.json", "/docs"):
        assert client.get(path).status_code == 200
    found = samples(client)
    for path in ("/openapi.json", "/docs"):
        assert (
            value(
                found,
                "purchase_http_requests_total",
                method="GET",
                route=path,
                status="200",
            )
            == 1
        )


def test_a_made_up_method_adds_no_series(client: TestClient) -> None:
    # Anyone may call /health/live: a method per request must not grow the
    # metrics without bound.
    for method in ("X0", "X1", "BREW"):
        client.request(method, "/health/live")
    found = samples(client)
    methods = {
        dict(labels)["method"]
        for name, labels in found
        if name == "purchase_http_requests_total"
    }
    assert methods == {"other"}
    assert (
        value(
            found,
            "purchase_http_requests_total",
            method="other",
            route="/health/live",
            status="405",
        )
        == 3
    )


def test_refused_requests_are_counted_under_their_route(
    predictor: PurchasePredictor,
) -> None:
    settings = ServiceSettings(api_key=SecretStr(KEY))
    with TestClient(create_app(predictor, settings=settings)) as client:
        assert client.post("/v1/predict", json=example_record()).status_code == 401
        found = samples(client)
    assert (
        value(
            found,
            "purchase_http_requests_total",
            method="POST",
            route="/v1/predict",
            status="401",
        )
        == 1
    )


def test_the_score_distribution_holds_every_probability(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    probability = predictor.predict(example_record(), return_probabilities=True)[
        "purchase_probability"
    ]
    client.post("/v1/predict", json=example_record())
    found = samples(client)
    assert value(found, "purchase_probability_count") == 1
    assert value(found, "purchase_probability_sum") == pytest.approx(probability)
    for le in ("0.05", "0.5", "0.95", "1.0"):
        inside = value(found, "purchase_probability_bucket", le=le)
        assert inside == (1 if probability <= float(le) else 0)


def test_record_scores_counts_scores_and_rejects_by_rule(
    app: FastAPI, client: TestClient
) -> None:
    record_scores(app, [0.01, 0.5, 0.99, 1.0], {"minimum": 2, "levels": 1, "none": 0})
    record_scores(app, [], {"minimum": 1})
    found = samples(client)
    assert value(found, "purchase_probability_count") == 4
    assert value(found, "purchase_probability_bucket", le="0.05") == 1
    assert value(found, "purchase_probability_bucket", le="0.5") == 2
    assert value(found, "purchase_probability_bucket", le="0.95") == 2
    assert value(found, "purchase_probability_bucket", le="1.0") == 4
    assert value(found, "purchase_rejects_total", rule="minimum") == 3
    assert value(found, "purchase_rejects_total", rule="levels") == 1
    assert ("purchase_rejects_total", frozenset({("rule", "none")})) not in found


def test_a_refused_session_is_counted_as_a_reject(client: TestClient) -> None:
    bad = {**example_record(), ID_COLUMN: -1}
    assert client.post("/v1/predict", json=bad).status_code == 422
    found = samples(client)
    rejects = {
        dict(labels)["rule"]: count
        for (name, labels), count in found.items()
        if name == "purchase_rejects_total"
    }
    assert sum(rejects.values()) == 1


def test_each_app_has_its_own_registry(predictor: PurchasePredictor) -> None:
    first = create_app(predictor, settings=ServiceSettings())
    second = create_app(predictor, settings=ServiceSettings())
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/health/live")
        one.get("/health/live")
        two.get("/health/live")
        live = {"method": "GET", "route": "/health/live", "status": "200"}
        assert value(samples(one), "purchase_http_requests_total", **live) == 2
        assert value(samples(two), "purchase_http_requests_total", **live) == 1


def test_the_served_model_is_published(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    found = samples(client)
    model = predictor.model
    assert (
        value(
            found,
            "purchase_model_info",
            model_name=str(model.name),
            version=str(model.version),
        )
        == 1
    )


def test_one_access_line_per_request_without_session_contents(
    predictor: PurchasePredictor, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(api_key=SecretStr(KEY))
    record = {**example_record(), ID_COLUMN: 987654}
    with TestClient(create_app(predictor, settings=settings)) as client:
        caplog.set_level(logging.INFO, logger=ACCESS)
        client.post(
            "/v1/predict?explain=false", json=record, headers={"X-API-Key": KEY}
        )
        client.post("/v1/predict", json=record)
        client.get("/health/live")
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS]
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    assert [(e["method"], e["path"]) for e in entries] == [
        ("POST", "/v1/predict"),
        ("POST", "/v1/predict"),
        ("GET", "/health/live"),
    ]
    assert entries[1]["status"] == 401
    for entry in entries:
        assert set(entry) == {"method", "path", "status", "latency_ms", "model_version"}
        assert entry["latency_ms"] >= 0
        assert entry["model_version"] == predictor.model.version
    text = "\n".join(lines)
    assert KEY not in text
    assert "987654" not in text
    assert "explain" not in text


def test_a_very_long_path_is_cut_in_the_access_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    path = "/" + "a" * 60_000
    assert client.get(path).status_code == 404
    (line,) = [r.getMessage() for r in caplog.records if r.name == ACCESS]
    logged = json.loads(line)["path"]
    assert logged == f"{path[:MAX_LOGGED_PATH]}... (60,001 characters)"


def test_a_scraper_may_probe_metrics_with_head(client: TestClient) -> None:
    head = client.head("/metrics")
    assert head.status_code == 200
    assert head.content == b""
