"""Requests that arrive together share one model call, and each still gets
exactly the answer it would get alone (``serving/coalescing.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from customer_purchase_prediction.columns import ID_COLUMN, PAGES_VIEWED, example_record
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


def sessions() -> list[dict[str, Any]]:
    """Twelve sessions: some good (one customer twice), some breaking a rule."""
    good = [
        {**example_record(), ID_COLUMN: index, PAGES_VIEWED: index % 5}
        for index in range(1, 9)
    ]
    broken = [
        {**example_record(), PAGES_VIEWED: -2},
        {**example_record(), PAGES_VIEWED: 2.5},
        {**example_record(), "pages": 3},
    ]
    return [*good, good[0], *broken]


async def post_together(
    app: Any, bodies: list[dict[str, Any]], query: str = ""
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return list(
            await asyncio.gather(
                *(client.post(f"/v1/predict{query}", json=body) for body in bodies)
            )
        )


def answers_alone(predictor: PurchasePredictor, query: str = "") -> list[Any]:
    app = create_app(predictor, settings=ServiceSettings(coalesce=1))
    return [
        (response.status_code, response.json())
        for response in asyncio.run(post_together(app, sessions()[:1], query))
        + [asyncio.run(post_together(app, [body], query))[0] for body in sessions()[1:]]
    ]


@pytest.mark.parametrize("query", ["", "?explain=true"])
def test_simultaneous_requests_share_calls_and_get_their_own_answers(
    predictor: PurchasePredictor, query: str
) -> None:
    expected = answers_alone(predictor, query)
    app = create_app(predictor, settings=ServiceSettings(coalesce=5))
    responses = asyncio.run(post_together(app, sessions(), query))
    got = [(response.status_code, response.json()) for response in responses]
    assert got == expected
    assert [status for status, _ in got].count(422) == 3
    # Twelve requests, at most five records a call: fewer calls than requests.
    assert app.state.coalescer.calls < len(sessions())
    assert app.state.coalescer.calls >= len(sessions()) // 5


def test_a_record_that_breaks_the_call_fails_only_its_own_request(
    predictor: PurchasePredictor,
) -> None:
    poison = 666  # scoring it raises, as a bug one input provokes would

    class Fragile(PurchasePredictor):
        def predict_records(self, records: Any, **options: Any) -> Any:
            if any(record.get(ID_COLUMN) == poison for record in records):
                raise RuntimeError("boom")
            return super().predict_records(records, **options)

    app = create_app(Fragile(predictor.model), settings=ServiceSettings(coalesce=64))
    bodies = [*sessions()[:2], {**example_record(), ID_COLUMN: poison}, sessions()[2]]
    together = asyncio.run(post_together(app, bodies))
    assert [response.status_code for response in together] == [200, 200, 500, 200]
    alone = answers_alone(predictor)
    assert [response.json() for response in together[:2]] == [a for _, a in alone[:2]]
    assert together[3].json() == alone[2][1]
    # One call for the four, then each again alone.
    assert app.state.coalescer.calls == 1 + len(bodies)
    (later,) = asyncio.run(post_together(app, sessions()[:1]))
    assert later.status_code == 200
