"""The HTTP API: endpoints, the published schema, errors, and the same bits."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import (
    BY_NAME,
    CATEGORICAL_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    PAGES_VIEWED,
    SESSION_COLUMNS,
    TIME_SPENT,
    example_record,
)
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.errors import InvalidRecordError
from customer_purchase_prediction.explain import MAX_REASONS, REASON_COLUMNS
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.inference.nodes import score_sessions
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app, routes
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.errors import MAX_PROBLEMS
from customer_purchase_prediction.serving.routes import NOT_EXPLAINED, install_api
from customer_purchase_prediction.serving.schemas import (
    CASEFOLD_EXTRAS,
    label_pattern,
    maximum,
)
from customer_purchase_prediction.synthetic import generate_sessions
from customer_purchase_prediction.values import (
    MAX_EXACT_INTEGER,
    NA_TOKENS,
    UNKNOWN_CODE,
    label_codes,
)

MAX_BATCH = 50
DEVICE, CUSTOMER_TYPE = CATEGORICAL_COLUMNS


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture(scope="module")
def client(predictor: PurchasePredictor) -> Iterator[TestClient]:
    app = create_app(predictor, settings=ServiceSettings(max_batch=MAX_BATCH))
    install_api(app)  # a no-op once create_app installs it
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def sessions(rows: int, seed: int) -> list[dict[str, Any]]:
    """Generated sessions as JSON records, a few with missing values."""
    raw, _ = generate_sessions(rows, seed, messy_fraction=0.0)
    records = json.loads(raw.drop(columns=LABEL_COLUMN).to_json(orient="records"))
    records[1][TIME_SPENT] = None
    del records[2][DEVICE]
    records[3][CUSTOMER_TYPE] = "  returning "
    return records


def problems(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


# ------------------------------------------------------------------ same bits


def test_a_prediction_over_http_is_the_predictors_to_the_last_bit(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    for record in sessions(40, seed=11):
        response = client.post("/v1/predict", json=record)
        assert response.status_code == 200, response.text
        expected = predictor.predict(record, return_probabilities=True)
        assert response.json() == expected
        # the float in the text reads back as the very float64
        text = re.search(r'"purchase_probability":([^,}]+)', response.text)[1]
        assert float(text) == expected["purchase_probability"]


def test_a_batch_over_http_is_python_and_the_pipeline_to_the_last_bit(
    client: TestClient, predictor: PurchasePredictor, trained_model: Any
) -> None:
    records = sessions(MAX_BATCH, seed=12)
    response = client.post("/v1/predict/batch", json={"sessions": records})
    assert response.status_code == 200, response.text
    answer = response.json()
    python, _ = predictor.predict(records, return_probabilities=True)
    pipeline = score_sessions(
        validate_sessions(pd.DataFrame(records), labelled=False).valid, trained_model
    )
    assert answer == {"predictions": python, "rejects": []}
    got = np.array([p["purchase_probability"] for p in answer["predictions"]])
    assert np.array_equal(got, pipeline["purchase_probability"].to_numpy())
    singles = [
        client.post("/v1/predict", json=record).json()["purchase_probability"]
        for record in records[:10]
    ]
    assert singles == got[:10].tolist()


# ------------------------------------------------------------------ contract


def test_a_contract_break_is_422_naming_field_value_and_rule(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    bad = {**example_record(), TIME_SPENT: -1}
    assert problems(client.post("/v1/predict", json=bad)) == [
        {"field": TIME_SPENT, "value": -1, "rule": f"{TIME_SPENT} must be >= 0; got -1"}
    ]
    with pytest.raises(InvalidRecordError, match=f"{TIME_SPENT} must be >= 0; got -1"):
        predictor.predict(bad)


def test_each_broken_rule_is_one_problem_in_column_order(client: TestClient) -> None:
    bad = {**example_record(), DEVICE: "Phone", PAGES_VIEWED: 1.5}
    assert problems(client.post("/v1/predict", json=bad)) == [
        {
            "field": PAGES_VIEWED,
            "value": 1.5,
            "rule": f"{PAGES_VIEWED} must be a whole number; got 1.5",
        },
        {
            "field": DEVICE,
            "value": "Phone",
            "rule": f"{DEVICE} must be one of Mobile, Desktop, Tablet, Unknown; "
            "got 'Phone'",
        },
    ]


@pytest.mark.parametrize("value", [False, True, "12.5", [1], {"a": 1}])
def test_a_number_must_be_a_json_number(client: TestClient, value: Any) -> None:
    found = problems(
        client.post("/v1/predict", json={**example_record(), TIME_SPENT: value})
    )
    assert len(found) == 1
    assert found[0]["field"] == TIME_SPENT
    assert found[0]["rule"].startswith(f"{TIME_SPENT} must be a JSON number or null")
    assert json.dumps(value) in found[0]["rule"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[4503599627370497.5]", "[4503599627370497.5]"),
        ('{"a": [1, 1.00000000000000001]}', '{"a": [1, 1.00000000000000001]}'),
    ],
)
def test_a_container_holding_a_kept_fraction_is_shown_as_json(
    client: TestClient, text: str, shown: str
) -> None:
    others = {k: v for k, v in example_record().items() if k != TIME_SPENT}
    body = json.dumps(others)[:-1] + f', "{TIME_SPENT}": {text}}}'
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    (problem,) = problems(response)
    assert problem["field"] == TIME_SPENT
    assert problem["rule"] == (
        f"{TIME_SPENT} must be a JSON number or null; got {shown}"
    )
    assert "Decimal" not in response.text


def test_a_label_must_be_text(client: TestClient) -> None:
    found = problems(client.post("/v1/predict", json={**example_record(), DEVICE: 3}))
    assert found == [
        {"field": DEVICE, "value": 3, "rule": f"{DEVICE} must be text or null; got 3"}
    ]


def test_a_whole_float_is_an_integer(client: TestClient) -> None:
    whole = {**example_record(), ID_COLUMN: 131072.0, PAGES_VIEWED: 8.0}
    response = client.post("/v1/predict", json=whole)
    assert response.status_code == 200, response.text
    assert response.json() == {
        **client.post("/v1/predict", json=example_record()).json(),
        ID_COLUMN: 131072,
    }


def test_ids_up_to_int64_are_exact_and_beyond_are_refused(client: TestClient) -> None:
    top = client.post(
        "/v1/predict", json={**example_record(), ID_COLUMN: MAX_EXACT_INTEGER}
    )
    assert top.json()[ID_COLUMN] == MAX_EXACT_INTEGER
    beyond = MAX_EXACT_INTEGER + 1
    found = problems(
        client.post("/v1/predict", json={**example_record(), ID_COLUMN: beyond})
    )
    assert found == [
        {
            "field": ID_COLUMN,
            "value": beyond,
            "rule": f"{ID_COLUMN} must be at most {MAX_EXACT_INTEGER}; got {beyond}",
        }
    ]


def test_a_missing_id_is_the_contracts_422(client: TestClient) -> None:
    record = {k: v for k, v in example_record().items() if k != ID_COLUMN}
    assert problems(client.post("/v1/predict", json=record)) == [
        {"field": ID_COLUMN, "value": None, "rule": f"{ID_COLUMN} is missing"}
    ]


def test_missing_features_are_imputed_as_in_python(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    only_id = {ID_COLUMN: 7}
    nulls = dict.fromkeys(SESSION_COLUMNS) | only_id
    na_text = {**only_id, DEVICE: " NA ", CUSTOMER_TYPE: ""}
    expected = predictor.predict(nulls, return_probabilities=True)
    for record in (only_id, nulls, na_text):
        assert client.post("/v1/predict", json=record).json() == expected


def test_labels_ignore_case_and_spaces(client: TestClient) -> None:
    plain = client.post("/v1/predict", json=example_record()).json()
    shouted = {**example_record(), DEVICE: "  MOBILE\t", CUSTOMER_TYPE: "returning"}
    assert client.post("/v1/predict", json=shouted).json() == plain


def test_an_unknown_key_is_named_with_the_nearest_field(client: TestClient) -> None:
    misspelt = {**example_record(), "tme_spent": 3}
    (found,) = problems(client.post("/v1/predict", json=misspelt))
    assert found["field"] == "tme_spent"
    assert "unknown key 'tme_spent'" in found["rule"]
    assert f"did you mean '{TIME_SPENT}'?" in found["rule"]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"{bad", "the body is not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object; got an array"),
        (b'"text"', "the body must be a JSON object"),
    ],
)
def test_a_body_that_is_no_session_is_422_in_the_same_shape(
    client: TestClient, body: bytes, rule: str
) -> None:
    response = client.post(
        "/v1/predict", content=body, headers={"Content-Type": "application/json"}
    )
    (found,) = problems(response)
    assert found["field"] is None
    assert found["rule"].startswith(rule)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff\xfe{", "it is not UTF-8 text (compressed? send it uncompressed)"),
        (
            b"\x1f\x8b\x08\x00\x00",
            "it is not UTF-8 text (compressed? send it uncompressed)",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "its arrays or objects are nested too deep"),
        (
            b'{"customer_id": ' + b"1" * 5000 + b"}",
            "it holds a number with more digits than Python reads (4,300)",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch"])
def test_a_body_json_cannot_read_is_a_documented_400_saying_why(
    client: TestClient, openapi: dict[str, Any], path: str, body: bytes, why: str
) -> None:
    response = client.post(
        path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == [
        {
            "field": None,
            "value": None,
            "rule": f"the body cannot be read as JSON: {why}",
        }
    ]
    assert "400" in openapi["paths"][path]["post"]["responses"]


def test_explain_adds_the_predictors_reasons_and_changes_no_probability(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    record = example_record()
    plain = client.post("/v1/predict", json=record).json()
    assert "reasons" not in plain
    explained = client.post("/v1/predict?explain=true", json=record).json()
    expected = predictor.predict(record, return_probabilities=True, explain=True)
    assert explained["purchase_probability"] == plain["purchase_probability"]
    assert explained["reasons"] == [
        expected[name] for name in REASON_COLUMNS if expected[name] is not None
    ]
    assert 1 <= len(explained["reasons"]) <= MAX_REASONS
    assert {k: v for k, v in explained.items() if k != "reasons"} == plain


def test_a_batch_is_explained_row_by_row(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    raw, _ = generate_sessions(20, seed=4, labelled=False, messy_fraction=0.0)
    sessions = json.loads(raw.to_json(orient="records"))
    sessions[3][TIME_SPENT] = -1  # a reject, still answered beside the rest
    plain = client.post("/v1/predict/batch", json={"sessions": sessions}).json()
    answer = client.post(
        "/v1/predict/batch?explain=true", json={"sessions": sessions}
    ).json()
    assert len(answer["rejects"]) == 1
    assert all("reasons" not in p for p in plain["predictions"])
    for alone, scored, before in zip(
        [s for i, s in enumerate(sessions) if i != 3],
        answer["predictions"],
        plain["predictions"],
        strict=True,
    ):
        single = client.post("/v1/predict?explain=true", json=alone).json()
        assert scored == single  # the same reasons and bits as one session alone
        assert scored["purchase_probability"] == before["purchase_probability"]


def test_a_model_that_cannot_explain_is_a_documented_501(
    predictor: PurchasePredictor, openapi: dict[str, Any]
) -> None:
    model = predictor.model
    opaque = PurchaseModel(
        model.pipeline,
        threshold=model.threshold,
        confidence_margins=model.confidence_margins,
        metadata={**model.metadata, "model_name": "unexplained"},
    )
    app = create_app(PurchasePredictor(opaque), settings=ServiceSettings())
    with TestClient(app) as opaque_client:
        for path, body in (
            ("/v1/predict", example_record()),
            ("/v1/predict/batch", {"sessions": [example_record()]}),
        ):
            assert opaque_client.post(path, json=body).status_code == 200
            response = opaque_client.post(f"{path}?explain=true", json=body)
            assert response.status_code == 501
            assert response.json() == {
                "detail": [{"field": "explain", "value": True, "rule": NOT_EXPLAINED}]
            }
            operation = openapi["paths"][path]["post"]
            assert "501" in operation["responses"]
            assert any(p["name"] == "explain" for p in operation["parameters"])


def test_the_schema_publishes_the_reasons(openapi: dict[str, Any]) -> None:
    reasons = openapi["components"]["schemas"]["Prediction"]["properties"]["reasons"]
    array = next(kind for kind in reasons["anyOf"] if kind.get("type") == "array")
    assert array["items"] == {"type": "string"}
    assert array["maxItems"] == MAX_REASONS
    assert "reasons" not in openapi["components"]["schemas"]["Prediction"]["required"]


def test_a_bad_query_parameter_is_named(client: TestClient) -> None:
    response = client.post("/v1/predict?explain=maybe", json=example_record())
    (found,) = problems(response)
    assert found["field"] == "explain"
    assert found["value"] == "maybe"


def test_an_unexpected_failure_is_a_bare_500(predictor: PurchasePredictor) -> None:
    class Broken(PurchasePredictor):
        def predict(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals at /srv/model")

        predict_records = predict  # what /v1/predict calls (coalescing.py)

    broken = Broken(predictor.model)
    app = create_app(broken, settings=ServiceSettings())
    install_api(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/v1/predict", json=example_record())
    assert response.status_code == 500
    assert response.json() == {
        "detail": [
            {
                "field": None,
                "value": None,
                "rule": "internal error; see the service log",
            }
        ]
    }


# ------------------------------------------------------------------ batch


def test_a_batch_with_rejects_is_200_and_loses_nothing(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    records = sessions(6, seed=13)
    records[2] = {**records[2], TIME_SPENT: -1}
    records[4] = {**records[4], DEVICE: "Phone", PAGES_VIEWED: 2.5}
    response = client.post("/v1/predict/batch", json={"sessions": records})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["predictions"]) + len(answer["rejects"]) == len(records)
    assert [p[ID_COLUMN] for p in answer["predictions"]] == [
        records[i][ID_COLUMN] for i in (0, 1, 3, 5)
    ]
    first, second = answer["rejects"]
    assert first == {
        **dict.fromkeys(SESSION_COLUMNS),
        **records[2],
        "source_row": 3,
        "reject_rule": f"{TIME_SPENT}:negative",
        "reject_reason": f"{TIME_SPENT} must be >= 0; got -1",
    }
    assert second["source_row"] == 5
    assert second[PAGES_VIEWED] == 2.5
    assert second["reject_rule"] == f"{PAGES_VIEWED}:not_whole;{DEVICE}:unknown_label"
    _, python = predictor.predict(records, return_probabilities=True)
    assert [r["reject_reason"] for r in answer["rejects"]] == [
        r["reject_reason"] for r in python
    ]


def test_a_batch_keeps_ids_beyond_a_float_exact(client: TestClient) -> None:
    big = 2**53 + 1  # a float64 column would make it 2**53
    records = [
        {**example_record(), ID_COLUMN: big},
        {**example_record(), ID_COLUMN: None},
        {**example_record(), ID_COLUMN: 5.0},
    ]
    answer = client.post("/v1/predict/batch", json={"sessions": records}).json()
    assert [p[ID_COLUMN] for p in answer["predictions"]] == [big, 5]
    assert answer["rejects"][0]["reject_rule"] == f"{ID_COLUMN}:missing"


def test_rejects_match_their_published_schema(
    client: TestClient, openapi: dict[str, Any]
) -> None:
    schemas = openapi["components"]["schemas"]
    reject = schemas["Reject"]
    assert set(reject["required"]) == {"source_row", "reject_rule", "reject_reason"}
    assert set(reject["properties"]) == {
        *SESSION_COLUMNS,
        "source_row",
        "reject_rule",
        "reject_reason",
    }
    bad = [
        {ID_COLUMN: None},
        {ID_COLUMN: 1.5, PAGES_VIEWED: 2.5},
        {ID_COLUMN: -3, DEVICE: "Phone"},
    ]
    answer = client.post("/v1/predict/batch", json={"sessions": bad}).json()
    assert len(answer["rejects"]) == len(bad)
    row = {**reject, "components": openapi["components"]}
    for found in answer["rejects"]:
        jsonschema.validate(found, row)


def test_a_batch_row_with_infinity_is_a_reject_not_a_500(
    client: TestClient, openapi: dict[str, Any]
) -> None:
    # Python's JSON reader (FastAPI's) takes the tokens Infinity and NaN; the
    # rejected row is echoed with null, as a 422 echoes such a value.
    body = (
        '{"sessions": [{"customer_id": 1, "basket_value": Infinity},'
        ' {"customer_id": 2, "time_spent": -Infinity, "pages_viewed": NaN},'
        ' {"customer_id": 3}]}'
    )
    response = client.post(
        "/v1/predict/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [p[ID_COLUMN] for p in answer["predictions"]] == [3]
    first, second = answer["rejects"]
    assert first["basket_value"] is None
    assert first["reject_reason"] == "basket_value must be finite; got inf"
    assert second[TIME_SPENT] is None
    assert second[PAGES_VIEWED] is None  # NaN: a missing value, as sent
    assert second["reject_reason"] == f"{TIME_SPENT} must be finite; got -inf"
    row = {**openapi["components"]["schemas"]["Reject"], **openapi}
    for found in answer["rejects"]:
        jsonschema.validate(found, row)


LONE_SURROGATE = "\\ud800"  # JSON text for a UTF-16 half: no character
HUGE = "1" + "0" * 309  # a JSON integer beyond any float


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/predict",
            f'{{"customer_id": 1, "device_type": "{LONE_SURROGATE}"}}',
            DEVICE,
        ),
        (
            "/v1/predict/batch",
            f'{{"sessions": [{{"customer_id": 1, "device_type": "{LONE_SURROGATE}"}}]}}',
            DEVICE,
        ),
        # A key that is a lone surrogate is an unknown key, named by its place.
        ("/v1/predict", f'{{"customer_id": 1, "{LONE_SURROGATE}": 1}}', "\ud800"),
        (
            "/v1/predict/batch",
            f'{{"sessions": [{{"customer_id": 1, "{LONE_SURROGATE}": 1}}]}}',
            'sessions[0]["\ud800"]',
        ),
        ("/v1/predict/batch", f'{{"sessions": [], "{LONE_SURROGATE}": 1}}', "\ud800"),
    ],
)
def test_a_lone_surrogate_is_refused_and_echoed_as_sent(
    predictor: PurchasePredictor, path: str, body: str, field: str
) -> None:
    # Python's JSON reader takes "\ud800", which UTF-8 cannot encode: the
    # answer escapes it, so it reads back as exactly the text sent, and the
    # drift window and the metrics keep working after it.
    app = create_app(predictor, settings=ServiceSettings(max_batch=MAX_BATCH))
    in_a_value = field == DEVICE
    with TestClient(app) as client:
        response = client.post(
            path, content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (200, 422), response.text
        answer = response.json()
        if path.endswith("batch") and in_a_value:
            (reject,) = answer["rejects"]
            assert reject[DEVICE] == "\ud800"
            assert reject["reject_rule"] == f"{DEVICE}:unknown_label"
        elif in_a_value:
            (problem,) = answer["detail"]
            assert problem["field"] == field
            assert problem["value"] == "\ud800"
        else:
            assert response.status_code == 422
            (problem,) = answer["detail"]
            assert problem["field"] == field
            at_top = field == "\ud800" and path.endswith("batch")
            assert problem["rule"] == (
                "key '\\ud800' is not a field of the request; expected keys: sessions"
                if at_top
                else "unknown key '\\ud800' in the session: not a column of the "
                f"data contract; expected keys: {', '.join(SESSION_COLUMNS)}"
            )
        assert client.post("/v1/predict", json=example_record()).status_code == 200
        assert client.get("/metrics").status_code == 200
        drift = client.get("/v1/monitoring/drift")
        assert drift.status_code == 200, drift.text
        assert drift.json()["window"]["sessions"] == 1 + in_a_value


@pytest.mark.parametrize("name", [ID_COLUMN, TIME_SPENT, PAGES_VIEWED])
def test_an_integer_beyond_any_float_is_refused_not_a_500(
    client: TestClient, name: str
) -> None:
    other = "" if name == ID_COLUMN else '"customer_id": 1, '
    body = f'{{{other}"{name}": {HUGE}}}'
    response = client.post(
        "/v1/predict", content=body, headers={"Content-Type": "application/json"}
    )
    (problem,) = problems(response)
    assert problem["field"] == name
    assert problem["rule"] == f"{name} must be finite; got {HUGE[:37]}..."
    batch = f'{{"sessions": [{body}, {{"customer_id": 2}}]}}'
    response = client.post(
        "/v1/predict/batch", content=batch, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [p[ID_COLUMN] for p in answer["predictions"]] == [2]
    assert [r["reject_rule"] for r in answer["rejects"]] == [f"{name}:not_finite"]


@pytest.mark.parametrize("name", [ID_COLUMN, TIME_SPENT, PAGES_VIEWED])
@pytest.mark.parametrize("sent", ["1e400", "-2e308"])
def test_a_float_beyond_float64_is_refused_as_sent(
    client: TestClient, openapi: dict[str, Any], name: str, sent: str
) -> None:
    # A finite JSON number that no float64 holds: the rule shows it as sent
    # (not "got inf"), the echo is null as for any value JSON cannot write
    # back, and the published schema refuses it too (its maximum).
    other = "" if name == ID_COLUMN else '"customer_id": 1, '
    body = f'{{{other}"{name}": {sent}}}'
    headers = {"Content-Type": "application/json"}
    (problem,) = problems(client.post("/v1/predict", content=body, headers=headers))
    assert problem == {
        "field": name,
        "value": None,
        "rule": f"{name} must be finite; got {sent}",
    }
    batch = f'{{"sessions": [{body}, {{"customer_id": 2}}]}}'
    response = client.post("/v1/predict/batch", content=batch, headers=headers)
    assert response.status_code == 200, response.text
    (reject,) = response.json()["rejects"]
    assert reject[name] is None
    assert reject["reject_reason"] == f"{name} must be finite; got {sent}"
    session = {**openapi["components"]["schemas"]["Session"], **openapi}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(body), session)


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch"])
@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", "the body is missing: send a JSON object"),
        (b"null", "the body must be a JSON object; got null"),
    ],
)
def test_a_missing_body_is_named(
    client: TestClient, path: str, body: bytes, rule: str
) -> None:
    response = client.post(
        path, content=body, headers={"Content-Type": "application/json"}
    )
    assert problems(response) == [{"field": None, "value": None, "rule": rule}]


def test_an_empty_batch_is_an_empty_answer(client: TestClient) -> None:
    response = client.post("/v1/predict/batch", json={"sessions": []})
    assert response.json() == {"predictions": [], "rejects": []}


def test_a_batch_over_the_limit_is_422_and_the_limit_is_published(
    client: TestClient, openapi: dict[str, Any]
) -> None:
    records = [{**example_record(), ID_COLUMN: i} for i in range(MAX_BATCH + 1)]
    assert problems(client.post("/v1/predict/batch", json={"sessions": records})) == [
        {
            "field": "sessions",
            "value": MAX_BATCH + 1,
            "rule": f"a batch holds at most {MAX_BATCH} sessions; got {MAX_BATCH + 1}:"
            " send them in several requests",
        }
    ]
    batch = openapi["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["sessions"]["maxItems"] == MAX_BATCH


def test_a_row_of_the_wrong_json_type_names_its_place(client: TestClient) -> None:
    records = [example_record(), {**example_record(), TIME_SPENT: "12.5"}]
    (found,) = problems(client.post("/v1/predict/batch", json={"sessions": records}))
    assert found["field"] == f"sessions[1].{TIME_SPENT}"
    assert found["value"] == "12.5"


@pytest.mark.parametrize(
    ("key", "field"),
    [("", 'sessions[0][""]'), (" ", 'sessions[0][" "]'), ("a.b", 'sessions[0]["a.b"]')],
)
def test_an_unknown_key_that_is_not_a_name_is_quoted_in_its_place(
    client: TestClient, key: str, field: str
) -> None:
    # "sessions[0]." would read as a path cut short; the key is quoted instead.
    records = [{**example_record(), key: 3}]
    (found,) = problems(client.post("/v1/predict/batch", json={"sessions": records}))
    assert found["field"] == field
    assert found["value"] == 3
    assert f"unknown key {key!r}" in found["rule"]


def test_scores_and_rejects_reach_the_metrics(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[float], dict[str, int]]] = []
    monkeypatch.setattr(
        routes, "record_scores", lambda app, p, r: calls.append((list(p), dict(r)))
    )
    records = [example_record(), {**example_record(), ID_COLUMN: 2, TIME_SPENT: -1}]
    batch = client.post("/v1/predict/batch", json={"sessions": records}).json()
    single = client.post("/v1/predict", json=example_record()).json()
    client.post("/v1/predict", json={**example_record(), DEVICE: "Phone"})
    assert calls == [
        (
            [batch["predictions"][0]["purchase_probability"]],
            {f"{TIME_SPENT}:negative": 1},
        ),
        ([single["purchase_probability"]], {}),
        ([], {f"{DEVICE}:unknown_label": 1}),
    ]


# ------------------------------------------------------------------ model


def test_model_info_is_get_model_info_as_json(
    client: TestClient, predictor: PurchasePredictor
) -> None:
    response = client.get("/v1/model")
    assert response.status_code == 200
    info = response.json()
    expected = json.loads(json.dumps(routes.plain(predictor.get_model_info())))
    assert info == expected
    assert info["input_columns"] == list(SESSION_COLUMNS)
    assert info["threshold"] == predictor.model.threshold


# ------------------------------------------------------------------ schema


def test_the_session_schema_is_the_column_spec(openapi: dict[str, Any]) -> None:
    session = openapi["components"]["schemas"]["Session"]
    assert list(session["properties"]) == list(SESSION_COLUMNS)
    assert session["required"] == [ID_COLUMN]
    assert "default" not in session["properties"][ID_COLUMN]
    assert session["additionalProperties"] is False
    assert session["examples"] == [example_record()]
    for name, prop in session["properties"].items():
        column = BY_NAME[name]
        assert prop["examples"] == [column.example]
        assert column.description.capitalize() in prop["description"]
        assert prop.get("minimum") == column.minimum
        # a float field's maximum is float64's: 1e400 is a JSON number, no float
        largest = sys.float_info.max if column.kind == "float" else maximum(column)
        assert prop.get("maximum") == largest
        if column.unit:
            assert prop["x-unit"] == column.unit
            assert column.unit in prop["description"]
        if column.levels:
            assert prop["x-levels"] == list(column.levels)
            assert prop["pattern"] == label_pattern(column)
    # exact, not the float 2**63 that FastAPI's OpenAPI models would give
    assert session["properties"][ID_COLUMN]["maximum"] == MAX_EXACT_INTEGER
    assert f'"maximum": {MAX_EXACT_INTEGER}' in json.dumps(openapi)


def test_a_batch_row_publishes_types_and_states_rules_in_words(
    openapi: dict[str, Any],
) -> None:
    row = openapi["components"]["schemas"]["SessionRow"]
    for name, prop in row["properties"].items():
        assert not {"minimum", "maximum", "pattern"} & set(prop)
        assert "null" in prop["type"]
        assert "integer" not in prop["type"]  # 1.5 is a reject, not a refusal
        single = openapi["components"]["schemas"]["Session"]["properties"][name]
        assert prop["description"] == single["description"]


def test_the_operations_carry_examples_and_the_rules(openapi: dict[str, Any]) -> None:
    predict = openapi["paths"]["/v1/predict"]["post"]
    assert f"| `{TIME_SPENT}` |" in predict["description"]
    error = openapi["components"]["schemas"]["ErrorResponse"]
    assert error["examples"][0]["detail"][0]["field"] == TIME_SPENT
    assert "Prediction" in json.dumps(predict["responses"]["200"])


@pytest.mark.parametrize("name", CATEGORICAL_COLUMNS)
@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=12),
        st.sampled_from(sorted(NA_TOKENS)),
        st.tuples(
            st.sampled_from(["", " ", "\t", "\n ", "\ufeff", "\x1c", "\u3000"]),
            st.sampled_from(
                [level for c in CATEGORICAL_COLUMNS for level in BY_NAME[c].levels]
            ),
            st.sampled_from(["", " ", "\u00a0"]),
            st.booleans(),
        ).map(lambda t: t[0] + (t[1].upper() if t[3] else t[1]) + t[2]),
    )
)
def test_the_label_pattern_allows_what_the_contract_reads(name: str, text: str) -> None:
    """Text the published pattern allows is text the contract accepts, and an
    allowed label in any case and spaces is allowed."""
    column = BY_NAME[name]
    allowed = re.search(label_pattern(column), text) is not None
    code = label_codes(np.array([text], dtype=object), column.levels)[0]
    if allowed:
        assert code != UNKNOWN_CODE
    if text.strip().isascii() and text.strip().casefold() in {
        level.casefold() for level in column.levels
    }:
        assert allowed


def test_the_letters_that_casefold_to_ascii_are_in_the_pattern() -> None:
    # The contract folds case with str.casefold: the Kelvin sign reads as k,
    # the long s as s; a client generated from the schema must allow them too.
    found: dict[str, str] = {}
    for code in range(0x80, sys.maxunicode + 1):
        folded = chr(code).casefold()
        if len(folded) == 1 and folded.isascii():
            found[folded] = found.get(folded, "") + chr(code)
    assert found == CASEFOLD_EXTRAS
    for text in ("Des\u212aTop", "De\u017fktop"):
        assert re.search(label_pattern(BY_NAME[DEVICE]), text)
        assert (
            label_codes(np.array([text], dtype=object), BY_NAME[DEVICE].levels)[0] >= 0
        )


def test_an_unknown_key_of_the_batch_request_is_named_as_the_requests(
    client: TestClient,
) -> None:
    response = client.post(
        "/v1/predict/batch", json={"sessions": [example_record()], "limit": 3}
    )
    assert problems(response) == [
        {
            "field": "limit",
            "value": 3,
            "rule": "key 'limit' is not a field of the request; expected keys: sessions",
        }
    ]
    inside = client.post(
        "/v1/predict/batch", json={"sessions": [{**example_record(), "limit": 3}]}
    )
    (problem,) = problems(inside)
    assert problem["field"] == "sessions[0].limit"
    assert problem["rule"].startswith("unknown key 'limit' in the session")


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/v1/model"])
def test_a_get_route_answers_head_without_a_body_or_an_operation(
    client: TestClient, openapi: dict[str, Any], path: str
) -> None:
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(got.content)
    assert list(openapi["paths"][path]) == ["get"]


def test_a_trailing_slash_is_404_not_a_redirect_to_the_clients_host(
    client: TestClient,
) -> None:
    response = client.post(
        "/v1/predict/",
        json=example_record(),
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_a_422_lists_at_most_max_problems_and_says_how_many_more(
    client: TestClient,
) -> None:
    # A body of 100,000 unknown keys (under 1 MB) gets a short answer.
    body = {ID_COLUMN: 1, **{f"{n:x}": 0 for n in range(100_000)}}
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == MAX_PROBLEMS + 1
    assert detail[0]["field"] == "0"
    assert detail[-1] == {
        "field": None,
        "value": None,
        "rule": f"and more: {100_000 - MAX_PROBLEMS} further problems are not "
        f"listed (at most {MAX_PROBLEMS} are); fix these and send again",
    }
    assert len(response.content) < 20_000


@pytest.mark.parametrize(
    ("rows", "left"), [(MAX_PROBLEMS // 2, 0), (MAX_PROBLEMS // 2 + 1, 2)]
)
def test_the_cap_counts_problems_not_pydantic_errors(
    client: TestClient, rows: int, left: int
) -> None:
    # A wrongly typed number is three pydantic errors (int, float, Decimal):
    # one problem; two long keys alike in their first characters are two.
    sessions = [{ID_COLUMN: row, TIME_SPENT: "x", DEVICE: 1} for row in range(rows)]
    body = json.dumps({"sessions": sessions})
    response = client.post(
        "/v1/predict/batch", content=body, headers={"Content-Type": "application/json"}
    )
    detail = response.json()["detail"]
    assert len(detail) == min(2 * rows, MAX_PROBLEMS) + (left > 0)
    if left:
        assert detail[-1]["rule"].startswith(f"and more: {left} further problems are")
    twins = {ID_COLUMN: 1, "a" * 1000 + "x": 1, "a" * 1000 + "y": 2}
    assert len(client.post("/v1/predict", json=twins).json()["detail"]) == 2


def test_a_batch_over_the_limit_is_refused_before_its_rows_are_read(
    client: TestClient,
) -> None:
    body = '{"sessions": [' + ",".join(["[]"] * 30_000) + "]}"
    response = client.post(
        "/v1/predict/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "sessions",
            "value": 30_000,
            "rule": f"a batch holds at most {MAX_BATCH} sessions; got 30000: send "
            "them in several requests",
        }
    ]


def test_a_long_key_is_named_shortened(client: TestClient) -> None:
    response = client.post("/v1/predict", json={ID_COLUMN: 1, "k" * 100_000: 1})
    (problem,) = response.json()["detail"]
    assert problem["field"].startswith("kkk")
    assert problem["field"].endswith("...")
    assert len(problem["field"]) < 100


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        ("/v1/predict", {ID_COLUMN: 1, "": 1}, "", None),
        (
            "/v1/predict/batch",
            {"sessions": {}},
            "sessions",
            "sessions must be a JSON array; got {}",
        ),
        (
            "/v1/predict/batch",
            {"sessions": [None]},
            "sessions[0]",
            "sessions[0] must be a JSON object; got null",
        ),
        (
            "/v1/predict/batch",
            {"sessions": [[1]]},
            "sessions[0]",
            "sessions[0] must be a JSON object; got an array",
        ),
        (
            "/v1/predict?explain=maybe",
            {ID_COLUMN: 1},
            "explain",
            'explain must be true or false; got "maybe"',
        ),
        (
            "/v1/predict/batch?explain=2",
            {"sessions": []},
            "explain",
            'explain must be true or false; got "2"',
        ),
    ],
)
def test_each_refusal_names_its_field_and_says_what_was_got(
    client: TestClient, path: str, body: Any, field: str, rule: str | None
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["field"] == field  # an empty key is "", not null (the body)
    if rule is not None:
        assert problem["rule"] == rule


@pytest.mark.parametrize(
    ("query", "name", "hint"),
    [
        ("?Explain=true", "Explain", "; did you mean 'explain'?"),
        ("?explian=true", "explian", "; did you mean 'explain'?"),
        ("?explain=true&foo=1", "foo", ""),
    ],
)
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch"])
def test_an_unknown_query_parameter_is_refused_not_ignored(
    client: TestClient, path: str, query: str, name: str, hint: str
) -> None:
    # A misspelt explain would answer without the reasons asked for.
    body = (
        {"sessions": [example_record()]} if path.endswith("batch") else example_record()
    )
    response = client.post(f"{path}{query}", json=body)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["field"] == name
    assert problem["rule"] == (
        f"unknown query parameter '{name}'; this endpoint takes: explain{hint}"
    )


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        (
            "/v1/predict/batch",
            '{"sessions": [1.5e-400, {"customer_id": 1}]}',
            "sessions[0]",
            "sessions[0] must be a JSON object; got 1.5e-400",
        ),
        (
            "/v1/predict",
            "4503599627370497.5",
            None,
            "the body must be a JSON object; got 4503599627370497.5",
        ),
        (
            "/v1/predict/batch",
            "4503599627370497.5",
            None,
            "the body must be a JSON object; got 4503599627370497.5",
        ),
    ],
)
def test_a_kept_fraction_where_an_object_belongs_is_no_empty_session(
    client: TestClient, path: str, body: str, field: str | None, rule: str
) -> None:
    # FastAPI validates with from_attributes, under which a Decimal would read
    # as a session whose every field is absent.
    response = client.post(
        path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert (problem["field"], problem["rule"]) == (field, rule)


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/model", 405), ("/v1/nope", 404), ("/v1/predict/", 404)]
)
def test_a_post_without_a_route_is_404_or_405_not_415(
    client: TestClient, path: str, status: int
) -> None:
    assert client.post(path).status_code == status
