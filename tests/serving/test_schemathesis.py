"""Property-based fuzz of the service's OpenAPI document (schemathesis).

Every operation is called with requests generated from the published schema,
valid ones (positive) and invalid ones (negative): no answer is a 5xx, every
answer matches the schema (status code, content type, headers, body), a
request the schema refuses is refused, and one it allows is not refused for a
reason it does not state. The app runs in-process (ASGI), with no key.

(schemathesis' own ``@schema.parametrize()`` with a lazy fixture does not run
on pytest 9 in 4.32, so each operation's strategy is driven by hypothesis.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.routes import NOT_EXPLAINED, install_api

MAX_BATCH = 20
EXAMPLES = 50


@pytest.fixture(scope="module")
def api_schema(trained_model: Any) -> Any:
    app = create_app(
        PurchasePredictor(trained_model), settings=ServiceSettings(max_batch=MAX_BATCH)
    )
    install_api(app)  # a no-op once create_app installs it
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_every_endpoint_is_fuzzed(api_schema: Any) -> None:
    fuzzed = {(op.method.upper(), op.path) for op in operations(api_schema)}
    assert {
        ("POST", "/v1/predict"),
        ("POST", "/v1/predict/batch"),
        ("GET", "/v1/model"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
    } <= fuzzed


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_service_meets_its_published_schema(
    api_schema: Any, mode: GenerationMode
) -> None:
    for operation in operations(api_schema):
        inputs = len(operation.body) + len(operation.query) + len(operation.headers)
        if mode is GenerationMode.NEGATIVE and not inputs:
            continue  # nothing to get wrong in a GET without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            # 501 is the documented answer to ?explain=true; any other 5xx fails.
            response = case.call_and_validate(excluded_checks=[not_a_server_error])
            if response.status_code >= 500:
                assert response.status_code == 501, response.text
                assert response.json()["detail"][0]["rule"] == NOT_EXPLAINED

        call()
