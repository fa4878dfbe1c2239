"""Single-record requests that arrive together, scored in one model call.

Under load, many ``POST /v1/predict`` requests are waiting at once; scoring each
alone repeats the contract's and the model's per-call work. Each request
instead joins a queue and awaits its answer; the event loop's next turn scores
everything queued by then (at most ``serving.coalesce`` records) with
``PurchasePredictor.predict_records``, which answers every record exactly as
``predict(record)`` would: its prediction, or the contract's error for it.
Nothing waits for company: a request alone is scored on the next turn of the
loop, so coalescing adds no latency, only shares the work when there is some to
share. Probabilities are the same bits (scoring is row-independent). Should a
call fail unexpectedly, each record is scored again alone, so only the request
whose record fails gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from customer_purchase_prediction.predictor import PurchasePredictor

__all__ = ["Coalescer"]

Pending = tuple[Mapping[str, Any], bool, asyncio.Future[dict[str, Any]]]


class Coalescer:
    """Queues single records and scores each turn's queue in one call.

    Args:
        predictor: Returns the served predictor (loaded at start-up).
        limit: The most records scored in one call; the rest wait a turn.
    """

    def __init__(self, predictor: Callable[[], PurchasePredictor], limit: int) -> None:
        self.predictor = predictor
        self.limit = limit
        self.pending: list[Pending] = []
        self.scheduled = False
        self.calls = 0  # model calls made (what coalescing saves is visible)

    async def predict(self, record: Mapping[str, Any], explain: bool) -> dict[str, Any]:
        """``predictor.predict(record, return_probabilities=True, explain=...)``.

        Raises:
            InvalidRecordError: the record breaks the contract.
            ExplanationError: ``explain`` and the model cannot explain.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending.append((record, explain, future))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.drain)
        return await future

    def drain(self) -> None:
        """Score up to ``limit`` queued records; the rest on the next turn."""
        batch, self.pending = self.pending[: self.limit], self.pending[self.limit :]
        self.scheduled = bool(self.pending)
        if self.pending:
            asyncio.get_running_loop().call_soon(self.drain)
        for explain in (False, True):
            group = [entry for entry in batch if entry[1] is explain]
            if group:
                self.score(group, explain=explain)

    def score(self, group: list[Pending], *, explain: bool) -> None:
        """Answer each waiting request of ``group`` (one explain setting)."""
        try:
            answers = self._answers(group, explain)
        except Exception as exc:
            # A fault one record provokes must not fail the requests that
            # happened to arrive with it: each is scored alone, and only the
            # record that raises gets the error (a 500; a 501 comes to all).
            answers = (
                [exc] if len(group) == 1 else [self._alone(e, explain) for e in group]
            )
        for (_, _, future), answer in zip(group, answers, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _answers(self, group: list[Pending], explain: bool) -> list[Any]:
        """The predictor's answers to ``group``'s records, in one call."""
        self.calls += 1
        return self.predictor().predict_records(
            [record for record, _, _ in group],
            return_probabilities=True,
            explain=explain,
        )

    def _alone(self, entry: Pending, explain: bool) -> Any:
        """One record's answer, or the exception scoring it raises."""
        try:
            (answer,) = self._answers([entry], explain)
        except Exception as exc:  # that request's 500 or 501
            return exc
        return answer
