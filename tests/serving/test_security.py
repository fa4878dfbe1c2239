"""Safe by default: the API key, where it may come from, body limits, clean 4xx."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kedro.config import OmegaConfigLoader
from pydantic import SecretStr, ValidationError

from customer_purchase_prediction.columns import example_record
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import (
    ServiceConfigError,
    ServiceSettings,
    ServingParameters,
    configured_api_key,
    project_settings,
    serving_parameters,
)
from customer_purchase_prediction.serving.security import is_loopback
from customer_purchase_prediction.serving.server import check_binding
from tests.conftest import PROJECT_ROOT

KEY = "k-3f9a-not-a-real-secret"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture
def client(predictor: PurchasePredictor) -> Iterator[TestClient]:
    """The service with a key configured and a small body limit."""
    settings = ServiceSettings(api_key=SecretStr(KEY), max_body_bytes=4096)
    with TestClient(create_app(predictor, settings=settings)) as test_client:
        yield test_client


@pytest.fixture
def open_client(predictor: PurchasePredictor) -> Iterator[TestClient]:
    """The service without a key."""
    with TestClient(create_app(predictor, settings=ServiceSettings())) as test_client:
        yield test_client


# ---------------------------------------------------------------------- the key


@pytest.mark.parametrize("path", ["/v1/model", "/v1/predict"])
@pytest.mark.parametrize(
    ("headers", "word"), [({}, "missing"), ({"X-API-Key": "wrong"}, "wrong")]
)
def test_v1_without_the_right_key_is_401_naming_the_header(
    client: TestClient, path: str, headers: dict[str, str], word: str
) -> None:
    if path == "/v1/model":
        response = client.get(path, headers=headers)
    else:
        response = client.post(path, json=example_record(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "detail": [
            {
                "field": "X-API-Key",
                "value": None,
                "rule": f"API key {word}: send the service's key in the X-API-Key "
                "header",
            }
        ]
    }
    assert KEY not in response.text


def test_the_right_key_scores(client: TestClient, predictor: PurchasePredictor) -> None:
    response = client.post(
        "/v1/predict", json=example_record(), headers={"X-API-Key": KEY}
    )
    assert response.status_code == 200
    expected = predictor.predict(example_record(), return_probabilities=True)
    assert response.json()["purchase_probability"] == expected["purchase_probability"]


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics"])
def test_health_and_metrics_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_no_key_configured_means_open(open_client: TestClient) -> None:
    assert open_client.get("/v1/model").status_code == 200


def test_the_key_is_never_echoed(client: TestClient) -> None:
    headers = {"X-API-Key": KEY}
    bodies = [
        client.get("/v1/model", headers=headers).text,
        client.get("/openapi.json").text,
        client.get("/metrics").text,
        client.post("/v1/predict", json={"nope": 1}, headers=headers).text,
        client.post("/v1/predict", content=b"{", headers={**headers, **JSON}).text,
        client.get("/v1/model", headers={"X-API-Key": KEY[:-1]}).text,
    ]
    for body in bodies:
        assert KEY not in body
    assert "api_key" not in client.get("/v1/model", headers=headers).text


def test_the_openapi_document_declares_the_key_on_v1_only(
    client: TestClient, open_client: TestClient
) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            secured = operation.get("security") == [{"APIKeyHeader": []}]
            assert secured == path.startswith("/v1/"), path
    assert "securitySchemes" not in open_client.get("/openapi.json").json().get(
        "components", {}
    )


def test_settings_never_show_the_key() -> None:
    settings = ServiceSettings(api_key=SecretStr(KEY))
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


# ------------------------------------------------------------- body and types


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        content=b"[" + b" " * 5000 + b"]",
        headers={"X-API-Key": KEY, **JSON},
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": [
            {
                "field": None,  # the body as a whole
                "value": 5002,
                "rule": "request body too large: 5,002 bytes, the limit is 4,096 "
                "bytes (serving.max_body_bytes); send fewer sessions per request",
            }
        ]
    }


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = client.post(
        "/v1/predict", content=chunks(), headers={"X-API-Key": KEY, **JSON}
    )
    assert response.status_code == 413
    (problem,) = response.json()["detail"]
    assert problem["field"] is None  # the body as a whole
    assert problem["value"] > 4096
    assert problem["rule"] == (
        f"request body too large: {problem['value']:,} bytes and more, the limit "
        "is 4,096 bytes (serving.max_body_bytes); send fewer sessions per request"
    )


def test_a_compressed_body_is_415_naming_the_encoding(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        content=gzip.compress(json.dumps(example_record()).encode()),
        headers={"X-API-Key": KEY, **JSON, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 415
    assert response.json()["detail"] == [
        {
            "field": "Content-Encoding",
            "value": "gzip",
            "rule": "Content-Encoding 'gzip' is not supported: send the body "
            "uncompressed",
        }
    ]
    identity = client.post(
        "/v1/predict",
        json=example_record(),
        headers={"X-API-Key": KEY, "Content-Encoding": "identity"},
    )
    assert identity.status_code == 200
    for codings in (["identity", "gzip"], ["identity, br"]):
        repeated = client.post(
            "/v1/predict",
            content=json.dumps(example_record()).encode(),
            headers=[("X-API-Key", KEY), *JSON.items()]
            + [("Content-Encoding", coding) for coding in codings],
        )
        assert repeated.status_code == 415, (codings, repeated.text)


@pytest.mark.parametrize(
    ("first", "then", "status"),
    [("text/plain", "application/json", 415), ("application/json", "text/plain", 200)],
)
def test_a_repeated_content_type_is_read_as_the_app_reads_it(
    client: TestClient, first: str, then: str, status: int
) -> None:
    # The guard and FastAPI both read the first of repeated headers, so what
    # the guard lets through is what the app parses.
    response = client.post(
        "/v1/predict",
        content=json.dumps(example_record()).encode(),
        headers=[("X-API-Key", KEY), ("Content-Type", first), ("Content-Type", then)],
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_body_that_is_not_json_is_415(
    client: TestClient, content_type: str | None
) -> None:
    headers = {"X-API-Key": KEY}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/predict", content=b"customer_id=1", headers=headers)
    assert response.status_code == 415
    rule = (
        f"Content-Type must be application/json; got '{content_type}'"
        if content_type
        else "the Content-Type header is missing: send Content-Type: application/json"
    )
    assert response.json() == {
        "detail": [{"field": "Content-Type", "value": content_type, "rule": rule}]
    }


def post_with_charset(client: TestClient, charset: str) -> Any:
    """The example session, sent as JSON declared in ``charset``."""
    return client.post(
        "/v1/predict",
        json=example_record(),
        headers={
            "X-API-Key": KEY,
            "Content-Type": f"application/json; charset={charset}",
        },
    )


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_json_with_a_utf8_charset_is_accepted(client: TestClient, charset: str) -> None:
    response = post_with_charset(client, charset)
    assert response.status_code == 200


@pytest.mark.parametrize("charset", ["latin-1", "UTF-16", "ascii"])
def test_json_declared_in_another_charset_is_415(
    client: TestClient, charset: str
) -> None:
    # JSON is UTF-8; a body declared otherwise is not read as UTF-8 regardless.
    response = post_with_charset(client, charset)
    assert response.status_code == 415
    assert response.json()["detail"] == [
        {
            "field": "Content-Type",
            "value": charset.lower(),
            "rule": f"charset '{charset.lower()}' is not read: send the body as "
            "UTF-8 (charset=utf-8, or no charset)",
        }
    ]


@pytest.mark.parametrize(
    "body", [b"{", b"{'customer_id': 1}", b"\xff\xfe", b"", b"[1, 2"]
)
def test_malformed_json_is_a_clear_4xx_without_a_trace(
    client: TestClient, body: bytes
) -> None:
    response = client.post(
        "/v1/predict", content=body, headers={"X-API-Key": KEY, **JSON}
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def test_a_bad_content_length_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        content=b"{}",
        headers={"X-API-Key": KEY, **JSON, "Content-Length": "2x"},
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "Content-Length"


# ------------------------------------------------------------------ binding


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost"]
)
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)
    check_binding(host, ServiceSettings(), insecure=False)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "10.0.0.1", "192.168.1.10", "example.com", ""],  # noqa: S104
)
def test_a_public_address_needs_a_key_or_insecure(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ServiceConfigError, match=f"refusing to serve on {host} "):
        check_binding(host, ServiceSettings(), insecure=False)
    check_binding(host, ServiceSettings(api_key=SecretStr(KEY)), insecure=False)
    check_binding(host, ServiceSettings(), insecure=True)


# ------------------------------------------------------- where the key comes from


def _project(tmp_path: Path, files: dict[str, str]) -> OmegaConfigLoader:
    for name, text in files.items():
        path = tmp_path / "conf" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "conf/base").mkdir(parents=True, exist_ok=True)
    (tmp_path / "conf/local").mkdir(parents=True, exist_ok=True)
    return OmegaConfigLoader(
        conf_source=str(tmp_path / "conf"), base_env="base", default_run_env="local"
    )


def test_the_key_comes_from_conf_local_credentials(tmp_path: Path) -> None:
    loader = _project(
        tmp_path, {"local/credentials.yml": f"serving:\n  api_key: {KEY}\n"}
    )
    key = configured_api_key(loader, environ={})
    assert key is not None
    assert key.get_secret_value() == KEY


def test_the_environment_variable_wins(tmp_path: Path) -> None:
    loader = _project(tmp_path, {"local/credentials.yml": "serving:\n  api_key: a\n"})
    key = configured_api_key(loader, environ={"PURCHASE_API_KEY": "b"})
    assert key is not None
    assert key.get_secret_value() == "b"


def test_no_key_anywhere_is_none(tmp_path: Path) -> None:
    assert configured_api_key(_project(tmp_path, {}), environ={}) is None


def test_a_key_in_conf_base_is_refused(tmp_path: Path) -> None:
    loader = _project(
        tmp_path, {"base/credentials.yml": f"serving:\n  api_key: {KEY}\n"}
    )
    with pytest.raises(ServiceConfigError) as raised:
        configured_api_key(loader, environ={"PURCHASE_API_KEY": "b"})
    message = str(raised.value)
    assert (
        "credentials.yml holds serving.api_key, but conf/base is committed" in message
    )
    assert "move it to conf/local/credentials.yml" in message
    assert KEY not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("serving:\n  api_key: [a, b]\n", "must be text; got list"),
        ("serving:\n  api_key: 0\n", "must be text; got int"),
        ("serving:\n  api_key: false\n", "must be text; got bool"),
        ("serving:\n  api_key: '   '\n", "is blank"),
        ("serving:\n  - api_key\n", "serving in the credentials must be a mapping"),
        ("serving: {api_key: abc\n", "the credentials of"),
    ],
)
def test_a_key_that_is_no_sendable_text_is_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    loader = _project(tmp_path, {"local/credentials.yml": text})
    with pytest.raises(ServiceConfigError, match=re.escape(problem)):
        configured_api_key(loader, environ={})


@pytest.mark.parametrize("given", ["   ", "\t"])
def test_a_blank_key_variable_is_refused(tmp_path: Path, given: str) -> None:
    with pytest.raises(ServiceConfigError, match="PURCHASE_API_KEY is blank"):
        configured_api_key(_project(tmp_path, {}), environ={"PURCHASE_API_KEY": given})
    with pytest.raises(ServiceConfigError, match="the API key is blank"):
        ServiceSettings.from_environment({"PURCHASE_API_KEY": given})


def test_a_key_is_kept_without_the_spaces_around_it(tmp_path: Path) -> None:
    loader = _project(
        tmp_path, {"local/credentials.yml": f"serving:\n  api_key: ' {KEY}\t'\n"}
    )
    key = configured_api_key(loader, environ={})
    assert key is not None
    assert key.get_secret_value() == KEY
    key = configured_api_key(loader, environ={"PURCHASE_API_KEY": f" {KEY} "})
    assert key is not None
    assert key.get_secret_value() == KEY


@pytest.mark.parametrize("sent", [f"{KEY}   ", f"{KEY}\t", f"  {KEY}"])
def test_spaces_around_the_key_header_are_not_part_of_it(
    client: TestClient, sent: str
) -> None:
    response = client.get("/v1/model", headers={"X-API-Key": sent})
    assert response.status_code == 200, response.text
    inside = client.get("/v1/model", headers={"X-API-Key": f"{KEY[:3]} {KEY[3:]}"})
    assert inside.status_code == 401


# ----------------------------------------------------------------- parameters


def test_the_serving_parameters_are_typed_and_refuse_unknown_keys() -> None:
    assert ServingParameters.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError):
        ServingParameters.model_validate({"max_bach": 10})


def test_the_project_serving_parameters_load() -> None:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local"
    )
    assert serving_parameters(loader) == ServingParameters(
        max_body_bytes=1048576, max_batch=1000
    )


def test_a_bad_serving_parameter_names_its_key(tmp_path: Path) -> None:
    loader = _project(
        tmp_path, {"base/parameters_serving.yml": "serving:\n  max_batch: 0\n"}
    )
    with pytest.raises(
        ServiceConfigError, match=r"^serving\.max_batch: Input should be"
    ):
        serving_parameters(loader)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "serving: [1]\n",
            "serving in the parameters must be a mapping of settings; got list",
        ),
        (
            "serving: 5\n",
            "serving in the parameters must be a mapping of settings; got int",
        ),
        ("serving: {max_batch: 5\n", "the parameters of"),
    ],
)
def test_a_serving_section_that_cannot_be_read_is_named(
    tmp_path: Path, text: str, problem: str
) -> None:
    loader = _project(tmp_path, {"local/parameters.yml": text})
    with pytest.raises(ServiceConfigError, match=re.escape(problem)):
        serving_parameters(loader)


def test_kedro_serve_takes_every_serving_parameter(tmp_path: Path) -> None:
    _project(
        tmp_path,
        {
            "base/parameters_serving.yml": (
                PROJECT_ROOT / "conf/base/parameters_serving.yml"
            ).read_text(),
            "prod/parameters.yml": "serving:\n  worker_timeout: 7\n  shutdown_timeout: 3\n",
        },
    )
    settings = project_settings(
        tmp_path, env="prod", model="m.skops", model_sha256="ab"
    )
    limits = ServingParameters.model_validate(
        {"worker_timeout": 7, "shutdown_timeout": 3}
    )
    assert settings.model_dump(include=set(ServingParameters.model_fields)) == (
        limits.model_dump()
    )
    assert (settings.model, settings.model_sha256) == ("m.skops", "ab")


def test_settings_reach_the_workers_through_the_environment() -> None:
    settings = ServiceSettings(
        model="2026-01-01T00.00.00.000Z",
        project_path=Path("/srv/project"),
        max_batch=7,
        max_body_bytes=2048,
        opentelemetry=True,
        api_key=SecretStr(KEY),
    )
    variables = settings.to_environment()
    assert ServiceSettings.from_environment(variables) == settings
    assert ServiceSettings.from_environment({}) == ServiceSettings()


def test_a_bad_variable_is_named_and_the_key_hidden() -> None:
    with pytest.raises(
        ServiceConfigError, match=r"^PURCHASE_MAX_BATCH: .* \(got 'x'\)"
    ):
        ServiceSettings.from_environment({"PURCHASE_MAX_BATCH": "x"})
