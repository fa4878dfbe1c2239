"""``uvicorn --factory ...:create_app`` takes the project's settings, as ``kedro serve``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from customer_purchase_prediction.artifact import dumps, sha256
from customer_purchase_prediction.columns import example_record
from customer_purchase_prediction.errors import ModelArtifactError
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.app import load_predictor
from customer_purchase_prediction.serving.config import (
    VARIABLES,
    ServiceConfigError,
    ServiceSettings,
)
from customer_purchase_prediction.serving.observability import SERVICE_LOGGERS

KEY = "a-key-only-in-conf-local"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.slow
@pytest.mark.usefixtures("clean_environment")
def test_the_factory_requires_the_key_and_keeps_the_limits_of_the_project(
    trained_copy: Path,
) -> None:
    (trained_copy / "conf/local/credentials.yml").write_text(
        f"serving:\n  api_key: {KEY}\n"
    )
    (trained_copy / "conf/local/parameters.yml").write_text(
        "serving:\n  max_batch: 2\n"
    )
    app = create_app()  # as uvicorn --factory calls it, inside the project
    with TestClient(app) as client:
        assert client.post("/v1/predict", json=example_record()).status_code == 401
        headers = {"X-API-Key": KEY}
        answer = client.post("/v1/predict", json=example_record(), headers=headers)
        assert answer.status_code == 200
        batch = {"sessions": [example_record()] * 3}
        too_many = client.post("/v1/predict/batch", json=batch, headers=headers)
        assert too_many.status_code == 422
        assert KEY not in too_many.text


@pytest.mark.slow
def test_a_variable_takes_precedence_over_the_project(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    (trained_copy / "conf/local/credentials.yml").write_text(
        f"serving:\n  api_key: {KEY}\n"
    )
    monkeypatch.setenv(VARIABLES["api_key"], "from-the-environment")
    with TestClient(create_app()) as client:
        headers = {"X-API-Key": "from-the-environment"}
        answer = client.post("/v1/predict", json=example_record(), headers=headers)
        assert answer.status_code == 200
        refused = client.post(
            "/v1/predict", json=example_record(), headers={"X-API-Key": KEY}
        )
        assert refused.status_code == 401


@contextmanager
def unconfigured_logging() -> Iterator[None]:
    """Logging as ``uvicorn --factory`` leaves it: no handler on the root or on
    the service's loggers (pytest's own capture handlers set aside, in the
    test's body, where pytest has added them)."""
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in SERVICE_LOGGERS]
    saved = [(found, found.handlers, found.propagate, found.level) for found in loggers]
    root_handlers = root.handlers[:]
    root.handlers.clear()
    for found in loggers:
        found.handlers = []
        found.propagate = True
        found.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        root.handlers[:] = root_handlers
        for found, handlers, propagate, level in saved:
            found.handlers = handlers
            found.propagate = propagate
            found.setLevel(level)


def test_under_uvicorn_the_service_still_writes_its_access_lines(
    trained_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with unconfigured_logging():
        app = create_app(PurchasePredictor(trained_model), settings=ServiceSettings())
        with TestClient(app) as client:
            response = client.post("/v1/predict", json=example_record())
            assert response.status_code == 200
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/v1/predict", 200)
    ]
    assert lines[0]["model_version"] == trained_model.version
    assert f"Serving {trained_model.name} version {trained_model.version}" in (
        captured.err
    )


def test_logging_an_application_configured_is_left_as_it_is(
    trained_model: Any,
) -> None:
    kept = logging.StreamHandler(io.StringIO())
    with unconfigured_logging():
        logging.getLogger().addHandler(kept)
        create_app(PurchasePredictor(trained_model), settings=ServiceSettings())
        for name in SERVICE_LOGGERS:
            assert logging.getLogger(name).handlers == []
        assert logging.getLogger().handlers == [kept]


def test_an_artifact_no_manifest_records_is_served_only_with_its_hash(
    trained_model: Any, tmp_path: Path
) -> None:
    data = dumps(trained_model)
    path = tmp_path / "elsewhere.skops"
    path.write_bytes(data)
    with pytest.raises(ServiceConfigError, match="not recorded in a model manifest"):
        load_predictor(ServiceSettings(model=str(path)))
    served = load_predictor(ServiceSettings(model=str(path), model_sha256=sha256(data)))
    assert served.model.name == trained_model.name
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit changed
    with pytest.raises(ModelArtifactError, match="is not the expected artifact"):
        load_predictor(ServiceSettings(model=str(path), model_sha256=sha256(data)))
