"""The service's JSON reader: a key twice is refused, whole floats above 2**53
keep their digits, and FastAPI's handler reads the same document."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from customer_purchase_prediction.columns import ID_COLUMN, TIME_SPENT, example_record
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.json_reader import (
    DuplicateKeyError,
    as_sent,
    read_json,
)

JSON = {"Content-Type": "application/json"}
BIG = 9007199254740993  # 2**53 + 1: no float holds it


@pytest.fixture(scope="module")
def client(trained_model: Any) -> Iterator[TestClient]:
    app = create_app(PurchasePredictor(trained_model), settings=ServiceSettings())
    with TestClient(app) as test_client:
        yield test_client


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_without_repeated_keys_it_reads_what_python_reads(value: Any) -> None:
    # The same document, but where a whole float above 2**53 is the exact int
    # its text writes (which reads back as the same float).
    text = json.dumps(value)
    found, expected = read_json(text.encode()), json.loads(text)
    assert as_floats(found) == as_floats(expected)
    assert read_json(text) == found


def as_floats(value: Any) -> Any:
    """``value`` with each number above 2**53 as a float."""
    if isinstance(value, dict):
        return {key: as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"b": {"a": 1, "a": 1}}',
        '[{"x": 0}, {"a": 1, "b": 2, "a": 3}]',
    ],
)
def test_a_key_given_twice_is_refused_naming_its_place(text: str) -> None:
    with pytest.raises(DuplicateKeyError, match="key 'a' is given twice") as caught:
        read_json(text.encode())
    assert (
        caught.value.location
        == {
            '{"a": 1, "a": 2}': ("a",),
            '{"b": {"a": 1, "a": 1}}': ("b", "a"),
            '[{"x": 0}, {"a": 1, "b": 2, "a": 3}]': (1, "a"),
        }[text]
    )


def test_utf8_that_encodes_a_surrogate_is_no_text() -> None:
    with pytest.raises(UnicodeDecodeError):
        read_json(b'{"device_type": "\xed\xa0\x80"}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9007199254740993.0", BIG),
        ("-9007199254740993.000", -BIG),
        ("9223372036854775807.0", 2**63 - 1),
        ("9.007199254740993e15", BIG),
    ],
)
def test_a_whole_float_above_2_53_keeps_its_digits(text: str, expected: int) -> None:
    found = read_json(text.encode())
    assert type(found) is int
    assert found == expected


@pytest.mark.parametrize(
    "text",
    ["4503599627370497.5", "9007199254740993.5", "1.00000000000000001", "1e-400"],
)
def test_a_fraction_a_float_would_round_away_is_kept(text: str) -> None:
    # Each reads as a whole float (4503599627370498.0, 1.0, 0.0): a whole-number
    # field would take it; as a Decimal the contract sees its fraction.
    found = read_json(text.encode())
    assert float(json.loads(text)).is_integer()
    assert found == Decimal(text)
    assert isinstance(found, Decimal)
    assert str(found) == text  # in a rule's words as sent, not Decimal's 1E-400
    assert as_sent(found) == json.loads(text)


@pytest.mark.parametrize(
    "text", ["12.5", "9007199254740991.0", "4503599627370498.0", "1e300"]
)
def test_other_floats_are_pythons(text: str) -> None:
    found = read_json(text.encode())
    assert type(found) is float
    assert found == json.loads(text)


@pytest.mark.parametrize("text", ["1e400", "-1.5e400", "1.8e308"])
def test_a_number_beyond_float64_is_kept_as_sent(text: str) -> None:
    # Python reads it as inf, and a rule would say "got inf" of a finite
    # number; kept, the rule shows it as sent and the echo is null (as inf's).
    found = read_json(text.encode())
    assert math.isinf(json.loads(text))
    assert isinstance(found, Decimal)
    assert str(found) == text
    assert as_sent(found) is None


def test_starlette_reads_the_document_left_for_it() -> None:
    # StrictJSONRoute leaves its document where Request.json() caches one.
    async def sent() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, sent)
    request._json = {"read": "strictly"}
    assert asyncio.run(request.json()) == {"read": "strictly"}


@pytest.mark.parametrize("query", ["", "?explain=1"])  # plain path, FastAPI's
def test_a_repeated_key_is_a_422_naming_it(client: TestClient, query: str) -> None:
    body = '{"customer_id": 1, "time_spent": -1, "time_spent": 3}'
    response = client.post(f"/v1/predict{query}", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {
            "field": TIME_SPENT,
            "value": None,
            "rule": f"{TIME_SPENT} is given twice in one object: send each key once",
        }
    ]
    batch = f'{{"sessions": [{{"customer_id": 2}}, {body}]}}'
    response = client.post("/v1/predict/batch", content=batch, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == f"sessions[1].{TIME_SPENT}"


@pytest.mark.parametrize("query", ["", "?explain=1"])
def test_an_id_written_as_a_whole_float_is_read_exactly(
    client: TestClient, query: str
) -> None:
    record = json.dumps({**example_record(), ID_COLUMN: 0}).replace(
        f'"{ID_COLUMN}": 0', f'"{ID_COLUMN}": {BIG}.0'
    )
    response = client.post(f"/v1/predict{query}", content=record, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()[ID_COLUMN] == BIG
    other = json.dumps({**example_record(), ID_COLUMN: BIG - 1})
    batch = f'{{"sessions": [{record}, {other}]}}'
    response = client.post("/v1/predict/batch", content=batch, headers=JSON)
    answer = response.json()
    assert answer["rejects"] == []
    assert [p[ID_COLUMN] for p in answer["predictions"]] == [BIG, BIG - 1]


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict?explain=1"])
def test_utf8_that_encodes_a_surrogate_is_a_400(client: TestClient, path: str) -> None:
    body = b'{"customer_id": 1, "device_type": "\xed\xa0\x80"}'
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["rule"].startswith(
        "the body cannot be read as JSON: it is not UTF-8 text"
    )


def test_a_refused_exact_id_is_shown_as_read(client: TestClient) -> None:
    body = f'{{"customer_id": -{BIG}.0}}'
    response = client.post("/v1/predict", content=body, headers=JSON)
    assert response.json()["detail"] == [
        {
            "field": ID_COLUMN,
            "value": -BIG,
            "rule": f"{ID_COLUMN} must be >= 0; got -{BIG}",
        }
    ]


@pytest.mark.parametrize("query", ["", "?explain=1"])  # plain path, FastAPI's
# Each is the float 4503599627370498.0: another id. The rule shows it as sent.
@pytest.mark.parametrize("text", ["4503599627370497.5", "45035996273704975e-1"])
def test_an_id_with_a_fraction_a_float_rounds_away_is_not_whole(
    client: TestClient, query: str, text: str, trained_model: Any
) -> None:
    record = json.dumps({**example_record(), ID_COLUMN: 0}).replace(
        f'"{ID_COLUMN}": 0', f'"{ID_COLUMN}": {text}'
    )
    response = client.post(f"/v1/predict{query}", content=record, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {
            "field": ID_COLUMN,
            "value": float(text),  # the float JSON reads
            "rule": f"{ID_COLUMN} must be a whole number; got {text}",
        }
    ]
    batch = f'{{"sessions": [{record}]}}'
    response = client.post("/v1/predict/batch", content=batch, headers=JSON)
    (reject,) = response.json()["rejects"]
    assert reject[ID_COLUMN] == float(text)
    assert reject["reject_rule"] == f"{ID_COLUMN}:not_whole"
    # A number field takes such a fraction as the float it is.
    timed = json.dumps(example_record()).replace(
        f'"{TIME_SPENT}": {example_record()[TIME_SPENT]}', f'"{TIME_SPENT}": {text}'
    )
    response = client.post(f"/v1/predict{query}", content=timed, headers=JSON)
    assert response.status_code == 200, response.text
    alone = PurchasePredictor(trained_model).predict(
        {**example_record(), TIME_SPENT: float(text)}, return_probabilities=True
    )
    assert response.json()["purchase_probability"] == alone["purchase_probability"]
