"""One shape for the service's errors: ``{"detail": [{field, value, rule}]}``.

A request the models refuse (a JSON type, an unknown key, malformed JSON) and
a session the data contract refuses are both answered with 422 and a list of
problems, each naming the field, the value given and the rule; anything
unexpected is a 500 that says only that, the traceback going to the log.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from customer_purchase_prediction.columns import BY_NAME, SESSION_COLUMNS
from customer_purchase_prediction.contract import check_known_names
from customer_purchase_prediction.errors import InvalidRecordError
from customer_purchase_prediction.serving.encoding import ServiceJSONResponse
from customer_purchase_prediction.serving.schemas import ErrorDetail, ErrorResponse
from customer_purchase_prediction.values import shorten

logger = logging.getLogger(__name__)

_MAX_ECHO_CHARS = 200
# A 422 lists at most this many problems, then says how many errors are left.
MAX_PROBLEMS = 50
# The members of a field's union type, which pydantic adds to an error's location.
# pydantic's names of a union's members, at the end of an error's location
# (``Decimal``'s is json-or-python[json=decimal,python=is-instance[Decimal]]).
_UNION_TAGS = frozenset(("int", "float", "str"))
_DECIMAL_TAG = "is-instance[Decimal]"
# Where FastAPI says a value came from; the field's name is enough.
_PLACES = frozenset(("body", "query", "path", "header", "cookie"))


class APIError(HTTPException):
    """An answer other than 200, with the problems to report.

    An ``HTTPException`` whose detail is the list of problems, so even FastAPI's
    own handler answers it in the service's shape.
    """

    def __init__(self, status_code: int, details: Sequence[ErrorDetail]) -> None:
        super().__init__(
            status_code, detail=[detail.model_dump(mode="json") for detail in details]
        )


def error_response(
    status_code: int, details: Sequence[ErrorDetail]
) -> ServiceJSONResponse:
    """The JSON answer for ``details``."""
    body = ErrorResponse(detail=list(details)).model_dump(mode="json")
    return ServiceJSONResponse(body, status_code=status_code)


def echo(value: Any) -> Any:
    """A value as an error shows it: a scalar as given (long text cut), no
    containers (a whole batch is never echoed back)."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_ECHO_CHARS else shorten(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):  # a number the JSON reader kept exactly
        return kept_number(value)
    return None


def kept_number(value: Decimal) -> float | None:
    """A number the JSON reader kept as a ``Decimal``, as JSON writes it back.

    A fraction float64 rounds away is its float (JSON has no other number to
    write); one beyond float64 (``1e400``) is null, as ``Infinity`` is, not its
    exact digits: six bytes sent must not become 400 written back. The rule
    shows either as it was sent.
    """
    number = float(value)
    return number if math.isfinite(number) else None


def shown(value: Any) -> str:
    """A value in a rule's words, as JSON writes it (``false``, ``"12.5"``)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        try:
            text = _json_text(value)
        except RecursionError:  # pragma: no cover - deeper than the reader reads
            text = str(value)
    return shorten(text)


def _json_text(value: Any) -> str:
    """JSON text of a document holding a fraction the reader kept (a
    ``Decimal``, written as its number: ``[4503599627370497.5]``, not
    Python's ``[Decimal('4503599627370497.5')]``)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(str(key), ensure_ascii=False)}: {_json_text(item)}"
                for key, item in value.items()
            )
            + "}"
        )
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def field_name(location: Sequence[int | str]) -> str | None:
    """A location (body, sessions, 2, time_spent) as ``sessions[2].time_spent``,
    (query, explain) as ``explain``; a nested key that is not a name (empty,
    with spaces or dots) in brackets: ``sessions[0][" "]``."""
    parts = list(location[1:] if location and location[0] in _PLACES else location)
    if not parts:
        return None  # the body as a whole
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not name:
            name = str(part)  # the top-level key exactly as sent
        elif str(part).isidentifier():
            name += f".{part}"
        else:  # an empty key, or one with spaces or dots: quoted, as in JavaScript
            name += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    # A key of a million characters is not echoed back whole either.
    # An empty key is named "", not null (which is the body as a whole).
    return shorten(name) if len(name) > _MAX_ECHO_CHARS else name


def _json_kind(name: str) -> str:
    column = BY_NAME[name]
    if column.kind == "label":
        kind = "text"
    else:
        kind = "a JSON number" + (" (a whole number)" if column.is_integer else "")
    return kind if column.required else f"{kind} or null"


def request_problem(
    error: dict[str, Any], body_keys: Sequence[str] | None = None
) -> ErrorDetail:
    """One pydantic (FastAPI) validation error in the service's words.

    ``body_keys``: the keys of a body that is not itself a session (a batch's
    ``sessions``), so an unknown key at its top is named as the request's.
    """
    error = _untextual_key_as_unknown(error)
    location = _untagged(tuple(error.get("loc", ())))
    field = field_name(location)
    key = location[-1] if location else None
    value = error.get("input")
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed JSON")
        return ErrorDetail(
            field=None,
            value=None,
            rule=f"the body is not valid JSON: {reason} (at character {key})",
        )
    if kind == "extra_forbidden":
        if body_keys is not None and len(location) == 2:  # noqa: PLR2004 - (body, key)
            rule = (
                f"key '{shorten(str(key))}' is not a field of the request; expected "
                f"keys: {', '.join(body_keys)}"
            )
        else:
            rule = _unknown_key(str(key))
        return ErrorDetail(field=field, value=echo(value), rule=rule)
    if kind == "missing":  # a field, or with no field the body itself
        rule = (
            f"{field} is required"
            if field is not None
            else "the body is missing: send a JSON object"
        )
        return ErrorDetail(field=field, value=None, rule=rule)
    rule = _type_rule(kind, location, value) or str(error.get("msg"))
    return ErrorDetail(field=field, value=echo(value), rule=rule)


def _type_rule(kind: str, location: tuple[Any, ...], value: Any) -> str | None:
    """The rule of a value of the wrong JSON type, in the service's words
    (None: not such an error)."""
    field = field_name(location)
    key = location[-1] if location else None
    if key in SESSION_COLUMNS and (kind.endswith("_type") or kind == "is_instance_of"):
        return f"{key} must be {_json_kind(str(key))}; got {shown(value)}"
    if kind in ("model_attributes_type", "dict_type"):
        what = "the body" if field is None else field
        return f"{what} must be a JSON object; got {_json_type(value)}"
    if kind == "list_type":
        return f"{field} must be a JSON array; got {_json_type(value)}"
    if kind in ("bool_parsing", "bool_type") and location[:1] == ("query",):
        return f"{field} must be true or false; got {shown(value)}"
    return None


def _untextual_key_as_unknown(error: dict[str, Any]) -> dict[str, Any]:
    """A key that is not text (a lone surrogate, JSON ``"\\ud800"``) as the
    unknown key it is: pydantic names the object holding it, with the key as
    the input, in its own words."""
    location = tuple(error.get("loc", ()))
    key = error.get("input")
    if (
        error.get("type") == "string_unicode"
        and isinstance(key, str)
        and (len(location) <= 1 or isinstance(location[-1], int))
    ):
        return {"type": "extra_forbidden", "loc": (*location, key), "input": None}
    return error


def _unknown_key(key: str) -> str:
    try:
        check_known_names(
            [key], source="the session", error=InvalidRecordError, what="key"
        )
    except InvalidRecordError as exc:
        return str(exc)
    return (
        f"key '{shorten(key)}' is not a field of a session; expected keys: "
        f"{', '.join(SESSION_COLUMNS)}"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bytes):
        return "a body that is not JSON"
    return f"{shown(value)}"


def _body_keys(request: Request) -> list[str] | None:
    """The keys of the route's body model when that body is not a session."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    if fields is None or set(fields) <= set(SESSION_COLUMNS):
        return None
    return list(fields)


async def _validation_error(request: Request, exc: Exception) -> ServiceJSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it
    keys = _body_keys(request)
    # One problem per place: a union type reports each member's refusal there.
    details: list[ErrorDetail] = []
    seen: set[tuple[Any, ...]] = set()
    for error in exc.errors():
        place = _place(error)
        if place in seen:
            continue
        seen.add(place)
        if len(details) < MAX_PROBLEMS:
            details.append(request_problem(error, keys))
    left = len(seen) - len(details)
    if left:  # a body of 100,000 bad keys gets no 20 MB answer
        problems = "problem is" if left == 1 else "problems are"
        details.append(
            ErrorDetail(
                field=None,
                value=None,
                rule=(
                    f"and more: {left} further {problems} not listed (at most "
                    f"{MAX_PROBLEMS} are); fix these and send again"
                ),
            )
        )
    return error_response(422, details)


def _untagged(location: tuple[Any, ...]) -> tuple[Any, ...]:
    """A location without the union member's tag at its end (int | float | Decimal)."""
    if len(location) > 1 and (
        location[-1] in _UNION_TAGS or _DECIMAL_TAG in str(location[-1])
    ):
        return location[:-1]
    return location


def _place(error: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where an error is, a union member's tag left out (a key that is not
    text is a place of its own)."""
    location = _untagged(tuple(error.get("loc", ())))
    if error.get("type") == "string_unicode":
        location = (*location, error.get("input"))
    return location


async def _http_error(request: Request, exc: Exception) -> ServiceJSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it
    if isinstance(exc, APIError):
        return ServiceJSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    rule = str(exc.detail)
    if exc.status_code == 400 and request.method == "POST":  # noqa: PLR2004
        # FastAPI's 400 when its JSON reader fails otherwise than on syntax
        rule = unreadable_body(exc.__cause__, rule)
    response = error_response(
        exc.status_code, [ErrorDetail(field=None, value=None, rule=rule)]
    )
    response.headers.update(exc.headers or {})
    return response


def unreadable_body(cause: BaseException | None, detail: str) -> str:
    """Why Python's JSON reader could not read a body that is no syntax error."""
    if isinstance(cause, UnicodeDecodeError):
        what = "it is not UTF-8 text (compressed? send it uncompressed)"
    elif isinstance(cause, RecursionError):
        what = "its arrays or objects are nested too deep"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        what = "it holds a number with more digits than Python reads (4,300)"
    else:
        what = detail.lower()
    return f"the body cannot be read as JSON: {what}"


async def _unexpected(request: Request, exc: Exception) -> ServiceJSONResponse:
    logger.exception(
        "Unexpected error answering %s %s", request.method, request.url.path
    )
    return error_response(
        500,
        [
            ErrorDetail(
                field=None, value=None, rule="internal error; see the service log"
            )
        ],
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer validation errors, HTTP errors (``APIError``, 400, 404, 405, 503)
    and anything unexpected in one shape."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
