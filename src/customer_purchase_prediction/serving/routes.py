"""The endpoints: health, the model, and predictions of one session or a batch.

Every prediction is ``PurchasePredictor``'s: the routes turn JSON into records
and back, and add nothing else. A session the contract refuses is a 422 naming
the field, the value and the rule in the contract's words; in a batch it is a
reject, and the other sessions are scored.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from customer_purchase_prediction.columns import SESSION_COLUMNS, contract_table
from customer_purchase_prediction.contract import (
    check_columns,
    count_reject_rules,
    reject_reason,
    reject_rule,
)
from customer_purchase_prediction.errors import ExplanationError, InvalidRecordError
from customer_purchase_prediction.explain import REASON_COLUMNS
from customer_purchase_prediction.records import one_value
from customer_purchase_prediction.serving.drift_window import observe_sessions
from customer_purchase_prediction.serving.encoding import json_bytes
from customer_purchase_prediction.serving.errors import (
    APIError,
    echo,
    install_error_handlers,
)
from customer_purchase_prediction.serving.json_reader import (
    Handler,
    StrictJSONRoute,
    as_sent,
    read_request,
)
from customer_purchase_prediction.serving.observability import record_scores
from customer_purchase_prediction.serving.plain_route import PlainJSONRoute
from customer_purchase_prediction.serving.route_table import RouteTable
from customer_purchase_prediction.serving.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorDetail,
    ErrorResponse,
    Prediction,
    Reject,
    Session,
    SessionRow,
)
from customer_purchase_prediction.values import shorten

__all__ = ["install_api", "router"]

router = RouteTable()  # installed on the app by create_app

NOT_EXPLAINED = (
    "the served model cannot explain its scores: its candidate declares no "
    "contributions; ask without explain=true for the prediction"
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": (
            "The body cannot be read as JSON: not UTF-8 text (or compressed), "
            "nested too deep, or a number of more than 4,300 digits."
        ),
    },
    422: {
        "model": ErrorResponse,
        "description": (
            "The request breaks a rule: each problem names the field, the value "
            "given and the rule, in the data contract's words."
        ),
    },
    501: {"model": ErrorResponse, "description": NOT_EXPLAINED},
}
_RULES = (
    "The data contract's rules (a missing feature value is imputed from the "
    "training data):\n\n" + contract_table()
)
_EXPLAIN = Query(
    False,
    description=(
        "Add the reasons behind each prediction (reasons: up to three, in business "
        "words); the probability is the same either way."
    ),
)


# The health answers are async: trivial work, answered on the event loop
# (a plain ``def`` would hop to the thread pool and back for each probe).
@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "live"}


@router.get(
    "/health/ready",
    responses={
        503: {"model": ErrorResponse, "description": "The model is not loaded yet."}
    },
)
async def ready(request: Request) -> dict[str, str]:
    """The model is loaded and the service can score."""
    if request.app.state.predictor is None:
        raise HTTPException(status_code=503, detail="the model is not loaded yet")
    return {"status": "ready"}


@router.get("/v1/model")
def model_info(request: Request) -> dict[str, Any]:
    """What ``PurchasePredictor.get_model_info()`` says of the served model."""
    return plain(request.app.state.predictor.get_model_info())


class BatchJSONRoute(StrictJSONRoute):
    """The batch route, read strictly (``serving/json_reader.py``), whose
    length limit is checked before a single row is validated: 300,000 rows of
    ``[]`` get one 422 naming the limit, not 300,000 problems."""

    def get_route_handler(self) -> Handler:
        """The strict handler, after the length check."""
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                document = await read_request(request)
            except HTTPException:
                raise
            except Exception:  # unreadable: the strict handler answers (a 400)
                document = None
            sessions = document.get("sessions") if isinstance(document, dict) else None
            if isinstance(sessions, list):
                check_batch_length(request, len(sessions))
            return await standard(request)

        return handler


@router.post(
    "/v1/predict",
    response_model=Prediction,
    response_model_exclude_unset=True,
    responses=_ERRORS,
    description=f"One session in, one prediction out.\n\n{_RULES}",
    # The plainest requests skip FastAPI's general machinery; anything else,
    # and every error, is FastAPI's own (serving/plain_route.py).
    route_class_override=PlainJSONRoute,
)
async def predict(
    request: Request, session: Session, explain: bool = _EXPLAIN
) -> Response:
    """Score one session."""
    check_query(request)
    record = session.model_dump()
    try:
        # The predictor's predict(record), shared with the requests that
        # arrived at the same time (serving/coalescing.py).
        result = await request.app.state.coalescer.predict(record, explain)
    except ExplanationError as exc:
        raise _not_explained() from exc
    except InvalidRecordError as exc:
        details, rule = contract_problems(record, str(exc))
        record_scores(request.app, [], count_rules([rule] if rule else []))
        observe_sessions(request.app, [record], [rule])
        raise APIError(422, details) from exc
    record_scores(request.app, [result["purchase_probability"]], {})
    observe_sessions(request.app, [record], [result["purchase_probability"]])
    return json_answer(with_reasons(result) if explain else result)


@router.post(
    "/v1/predict/batch",
    response_model=BatchResponse,
    response_model_exclude_unset=True,
    responses=_ERRORS,
    description=(
        "Sessions in, a prediction or a reject for each out, in input order: "
        "len(predictions) + len(rejects) == len(sessions). A session that breaks "
        "the contract is a reject with its values as sent, source_row (from 1), "
        "reject_rule and reject_reason; the answer is 200 all the same. The "
        f"service's max_batch limits the number of sessions.\n\n{_RULES}"
    ),
    route_class_override=BatchJSONRoute,
)
def predict_batch(
    request: Request, batch: BatchRequest, explain: bool = _EXPLAIN
) -> Response:
    """Score a batch of sessions."""
    check_query(request)
    check_batch_length(request, len(batch.sessions))
    records = [session.model_dump() for session in batch.sessions]
    try:
        # The sessions are one batch: an id sent twice is a duplicate (both
        # rejected), as in a file; each answer is the predictor's.
        answers = request.app.state.predictor.predict_records(
            records, return_probabilities=True, explain=explain, one_batch=True
        )
    except ExplanationError as exc:
        raise _not_explained() from exc
    predictions: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    outcomes: list[float | str] = []  # a probability, or a reject rule
    for row, answer in enumerate(answers):
        if isinstance(answer, InvalidRecordError):
            rejects.append(batch_reject(records[row], row, answer))
            outcomes.append(rejects[-1]["reject_rule"])
        else:
            predictions.append(with_reasons(answer) if explain else answer)
            outcomes.append(answer["purchase_probability"])
    record_scores(
        request.app,
        [p["purchase_probability"] for p in predictions],
        count_rules([r["reject_rule"] for r in rejects]),
    )
    observe_sessions(request.app, records, outcomes)
    return json_answer({"predictions": predictions, "rejects": rejects})


def check_query(request: Request) -> None:
    """Refuse a query parameter the route does not take: a misspelt
    ``Explain=true`` would otherwise be ignored, and the answer come without
    the reasons asked for.

    Raises:
        APIError: a 422 naming the parameter, and the route's own.
    """
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    known = [field.alias for field in getattr(route, "dependant", route).query_params]
    for name, value in request.query_params.multi_items():
        if name in known:
            continue
        nearest = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
        hint = f"; did you mean '{nearest[0]}'?" if nearest else ""
        takes = ", ".join(known) or "none"
        raise APIError(
            422,
            [
                ErrorDetail(
                    field=shorten(name),
                    value=echo(value),
                    rule=(
                        f"unknown query parameter '{shorten(name)}'; this endpoint "
                        f"takes: {takes}{hint}"
                    ),
                )
            ],
        )


def check_batch_length(request: Request, length: int) -> None:
    """Refuse a batch of more than the service's ``max_batch`` sessions.

    Raises:
        APIError: a 422 naming the limit.
    """
    limit = request.app.state.settings.max_batch
    if length > limit:
        raise APIError(
            422,
            [
                ErrorDetail(
                    field="sessions",
                    value=length,
                    rule=(
                        f"a batch holds at most {limit} sessions; got {length}: "
                        "send them in several requests"
                    ),
                )
            ],
        )


def batch_reject(
    record: Mapping[str, Any], row: int, error: InvalidRecordError
) -> dict[str, Any]:
    """A refused session of a batch as sent, with its ``source_row`` (from 1)
    and its rules and reasons joined as the batch pipeline's rejects file
    joins them (``contract.validate_sessions``)."""
    if not error.problems:  # refused before the rules: the whole request is bad
        raise APIError(
            422, [ErrorDetail(field=f"sessions[{row}]", value=None, rule=str(error))]
        )
    return {
        **{name: as_sent(value) for name, value in record.items()},
        "source_row": row + 1,
        "reject_rule": reject_rule(error.problems),
        "reject_reason": reject_reason(error.problems),
    }


def json_answer(payload: Mapping[str, Any]) -> Response:
    """``payload`` as the JSON body of a 200, written as it is.

    The predictor's answers are plain Python values that already meet the
    response models (``schemas.py``: ``tests/serving`` and the schemathesis fuzz
    check every answer against the published schema), so they are not
    validated again, which would cost more than scoring a coalesced record.
    pydantic-core writes it (in Rust, several times faster than ``json.dumps``):
    floats as the shortest text that reads back as the same float64, and a
    value JSON has no number for (``Infinity`` or ``NaN`` in a rejected
    session, echoed as sent) as null, as the 422 answers echo it; the
    reject's reason states the value. Text UTF-8 cannot encode (a lone
    surrogate) is escaped (``serving/encoding.py``).
    """
    return Response(json_bytes(payload), media_type=JSONResponse.media_type)


def with_reasons(prediction: Mapping[str, Any]) -> dict[str, Any]:
    """A prediction with its ``reason_1..reason_3`` as one list, ``reasons``."""
    answer = {k: v for k, v in prediction.items() if k not in REASON_COLUMNS}
    reasons = (prediction.get(name) for name in REASON_COLUMNS)
    return {**answer, "reasons": [text for text in reasons if isinstance(text, str)]}


def _not_explained() -> APIError:
    return APIError(501, [ErrorDetail(field="explain", value=True, rule=NOT_EXPLAINED)])


def count_rules(rules: Sequence[str]) -> dict[str, int]:
    """Reject rules (``a:x;b:y``) counted one by one, as the batch pipeline counts."""
    if not rules:
        return {}
    return count_reject_rules(pd.DataFrame({"reject_rule": rules}).astype("str"))


def contract_problems(
    record: Mapping[str, Any], message: str
) -> tuple[list[ErrorDetail], str]:
    """What the contract says of a refused record, field by field, and its
    reject rule (``customer_id:negative``; empty when no rule of a row broke).

    The contract's own check (``check_columns``, as ``PurchasePredictor`` runs
    it), so each rule reads exactly as the contract words it.
    """
    columns = {name: one_value(name, record.get(name)) for name in SESSION_COLUMNS}
    _, problems = check_columns(columns, labelled=False)
    pairs = problems.get(0, [])
    if not pairs:  # not a rule of a row: the predictor's message as it is
        return [ErrorDetail(field=None, value=None, rule=message)], ""
    details = [
        ErrorDetail(
            field=(field := rule.split(":", 1)[0]),
            value=echo(record.get(field)),
            rule=reason,
        )
        for rule, reason in pairs
    ]
    return details, reject_rule(pairs)


def plain(value: Any) -> Any:
    """A value JSON can carry: numpy scalars as Python's, NaN and inf as None."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Sequence | np.ndarray | set) and not isinstance(
        value, str | bytes
    ):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def install_api(app: FastAPI) -> None:
    """The error handlers, and the batch limit of ``app``'s settings published
    in its OpenAPI document. Called once by ``create_app``; a second call is
    harmless."""
    if getattr(app.state, "api_installed", False):
        return
    app.state.api_installed = True
    install_error_handlers(app)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = generate()["components"]["schemas"]
            # FastAPI's OpenAPI models hold bounds as floats, which would turn
            # the id's limit 2**63 - 1 into 2**63: the models' own schemas are
            # exact.
            for model in (Session, SessionRow, Reject, Prediction):
                exact = model.model_json_schema()["properties"]
                components[model.__name__]["properties"] = exact
            batch = components[BatchRequest.__name__]
            batch["properties"]["sessions"]["maxItems"] = app.state.settings.max_batch
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
