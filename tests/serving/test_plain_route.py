"""The plain path of POST /v1/predict answers every request as FastAPI's own does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI, Header, Request, Response
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import SESSION_COLUMNS, example_record
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.json_reader import StrictJSONRoute
from customer_purchase_prediction.serving.plain_route import PlainJSONRoute
from customer_purchase_prediction.serving.schemas import Session

JSON = "application/json"


@pytest.fixture(scope="module")
def clients(trained_model: Any) -> Iterator[tuple[TestClient, TestClient]]:
    """The service as it is, and the same service with FastAPI's own handler
    (reading JSON with the service's reader, as the batch endpoint does)."""
    plain = create_app(PurchasePredictor(trained_model))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            PlainJSONRoute, "get_route_handler", StrictJSONRoute.get_route_handler
        )
        standard = create_app(PurchasePredictor(trained_model))
    with TestClient(plain) as fast, TestClient(standard) as slow:
        yield fast, slow


def answers(
    clients: tuple[TestClient, TestClient],
    body: bytes,
    query: str = "",
    content_type: str | None = JSON,
) -> tuple[Any, Any]:
    headers = {} if content_type is None else {"Content-Type": content_type}
    got = [
        client.post(f"/v1/predict{query}", content=body, headers=headers)
        for client in clients
    ]
    return tuple((r.status_code, r.headers.get("content-type"), r.content) for r in got)


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


RECORD = example_record()
BODIES = {
    "the example": encoded(RECORD),
    "missing values": encoded({**RECORD, "time_spent": None, "device_type": "NA"}),
    "spaces and case": encoded({**RECORD, "customer_type": " returning "}),
    "no id": encoded({k: v for k, v in RECORD.items() if k != "customer_id"}),
    "negative": encoded({**RECORD, "time_spent": -1}),
    "NaN": encoded({**RECORD, "basket_value": float("nan")}),
    "a boolean number": encoded({**RECORD, "pages_viewed": False}),
    "a number as text": encoded({**RECORD, "time_spent": "12.5"}),
    "a whole float": encoded({**RECORD, "pages_viewed": 131072.0}),
    "a huge id": encoded({**RECORD, "customer_id": 2**64}),
    "an id as a whole float above 2**53": b'{"customer_id": 9007199254740993.0}',
    "a key twice": b'{"customer_id": 1, "time_spent": -1, "time_spent": 3}',
    "an unknown key": encoded({**RECORD, "coupon": 1}),
    "an unknown label": encoded({**RECORD, "device_type": "Watch"}),
    "a list": encoded([RECORD]),
    "a number": b"3",
    "null": b"null",
    "nothing": b"",
    "malformed": b'{"customer_id": 1,',
    "not UTF-8": b'{"customer_id": "\xff"}',
    "UTF-16": json.dumps(RECORD).encode("utf-16"),
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_every_body_is_answered_as_fastapi_answers_it(
    clients: tuple[TestClient, TestClient], body: bytes
) -> None:
    fast, slow = answers(clients, body)
    assert fast == slow


QUERIES = [
    "?explain=true",
    "?explain=false",
    "?explain=1",
    "?explain=TRUE",
    "?explain=yes",
    "?explain=maybe",
    "?explain=",
    "?explain",
    "?explain=true&explain=false",
    "?explain=false&explain=true",
    "?other=1",
    "?explain=true&other=1",
    "?explain=%74rue",
]


@pytest.mark.parametrize("query", QUERIES)
def test_every_query_is_read_as_fastapi_reads_it(
    clients: tuple[TestClient, TestClient], query: str
) -> None:
    for body in (BODIES["the example"], BODIES["negative"]):
        fast, slow = answers(clients, body, query)
        assert fast == slow


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=utf-8", "Application/JSON", "text/plain"],
)
def test_other_content_types_are_fastapis(
    clients: tuple[TestClient, TestClient], content_type: str | None
) -> None:
    fast, slow = answers(clients, BODIES["the example"], content_type=content_type)
    assert fast == slow


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["Mobile", " desktop ", "NA", "New", "returning", ""]),
    st.lists(st.integers(), max_size=2),
)
sessions = st.dictionaries(
    st.sampled_from([*SESSION_COLUMNS, "purchase", "extra"]), values, max_size=8
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(session=sessions, explain=st.sampled_from(["", "?explain=true", "?explain=no"]))
def test_generated_sessions_are_answered_alike(
    clients: tuple[TestClient, TestClient], session: dict[str, Any], explain: str
) -> None:
    fast, slow = answers(clients, encoded(session), explain)
    assert fast == slow


def test_a_plain_request_skips_fastapis_dependency_solving(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.query)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    fast, _ = clients
    for query in ("", "?explain=true", "?explain=false"):
        response = fast.post(f"/v1/predict{query}", json=RECORD)
        assert response.status_code == 200, response.text
    assert calls == []
    # What the plain path does not read goes to FastAPI's handler; a body that
    # fails validation gets the errors that handler would raise, validated
    # once (the answers are compared in test_every_body_is_answered_...).
    assert fast.post("/v1/predict?explain=yes", json=RECORD).status_code == 200
    assert fast.post("/v1/predict", json={**RECORD, "x": 1}).status_code == 422
    assert calls == ["explain=yes"]


def plain_app(endpoint: Any) -> FastAPI:
    app = FastAPI()
    app.router.add_api_route(
        "/score", endpoint, methods=["POST"], route_class_override=PlainJSONRoute
    )
    return app


def test_an_endpoint_the_plain_path_would_misread_is_refused() -> None:
    def sync(request: Request, session: Session) -> Response:
        return Response()

    async def header(
        request: Request, session: Session, x_tag: str = Header("")
    ) -> Response:
        return Response()

    async def text_flag(request: Request, session: Session, mode: str = "") -> Response:
        return Response()

    async def no_request(session: Session) -> Response:
        return Response()

    for endpoint, what in [
        (sync, "a plain def"),
        (header, "a header"),
        (text_flag, "a query parameter other than a flag with a default"),
        (no_request, "no request parameter"),
    ]:
        with pytest.raises(TypeError, match=f"/score: the endpoint takes {what}"):
            plain_app(endpoint)


def test_an_endpoint_must_answer_with_a_response() -> None:
    async def plain_dict(request: Request, session: Session) -> Any:
        return {"scored": True}

    with TestClient(plain_app(plain_dict), raise_server_exceptions=True) as client:
        with pytest.raises(TypeError, match="must return a Response; got dict"):
            client.post("/score", json=RECORD)
