"""``uvicorn --factory ...:create_app`` takes the project's settings, as ``kedro serve``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from customer_purchase_prediction.columns import example_record
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import VARIABLES

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
