"""The service's one JSON reader: Python's, stricter in the places below.

- **Text is UTF-8 (or UTF-16, -32, as ``json.loads`` detects) strictly**: bytes
  that encode a lone surrogate are a 400, as other bytes that are no text.
- **A key given twice in one object is refused**, named by its place
  (``sessions[0].time_spent``). Python's reader keeps the last value
  silently: a session naming a field twice, first with a value that breaks the
  contract, would be scored with the second and the first never seen.
- **A whole number written as a float above 2**53 keeps its digits.**
  ``9007199254740993.0`` is an integer to JSON Schema (the published
  ``customer_id`` is one); read as a float it would arrive as
  ``9007199254740992``, another customer. Such a number (up to 2**64 in
  size) is read exactly, as an int.
- **A fraction that a float would round away is kept**, as a ``Decimal``:
  ``4503599627370497.5`` reads as the float ``4503599627370498.0`` (from
  2**52 on every float is whole), and ``1.00000000000000001`` as ``1.0``; a
  whole-number field must refuse both, as it refuses ``12.5``, and the
  contract reads a ``Decimal`` exactly (``values.hidden_fractions``); a rule
  shows it as it was sent (``SentNumber``). A
  number field takes it as the float it is. Where the service writes such a
  value back (a reject's echo, an error's ``value``) it is that float
  (``as_sent``).
- **A finite number beyond float64 is kept**, as a ``SentNumber``: Python
  reads ``1e400`` as ``inf``, and the contract's rule would say "got inf" of a
  number that was sent finite; kept, it is refused as not finite in the
  words it was sent with, and echoed as null. Every other float is read as
  Python reads it.

``StrictJSONRoute`` reads each request's body with it and leaves the result
where Starlette's ``Request.json()`` caches its own (``request._json``), so
FastAPI's handler validates the very document the plain path reads
(``serving/plain_route.py``); ``tests/serving/test_json_reader.py`` fails if
a Starlette upgrade stops reading that cache.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from customer_purchase_prediction.serving.errors import (
    APIError,
    field_name,
    kept_number,
)
from customer_purchase_prediction.serving.schemas import ErrorDetail
from customer_purchase_prediction.values import MAX_INTEGER, shorten

__all__ = [
    "DuplicateKeyError",
    "StrictJSONRoute",
    "as_sent",
    "read_json",
    "read_request",
]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_EXACT_LIMIT = 2**64  # beyond any id; larger floats stay floats


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice; ``location`` is where, from the top
    (``("sessions", 0, "pages")``)."""

    def __init__(self, location: tuple[str | int, ...]) -> None:
        super().__init__(f"key {location[-1]!r} is given twice in one object")
        self.location = location


class _Repeat(Exception):  # a signal inside read_json, not an error
    """An object named a key twice (the fast decode stops; a second one finds it)."""


class _Repeated(dict[str, Any]):
    """An object that names ``key`` twice (found after decoding, with its place)."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Repeat
    return document


def _marked(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated = _Repeated(document)
            repeated.key = key
            return repeated
        seen.add(key)
    return document  # pragma: no cover - a shorter dict has a repeated key


def _first_repeated(value: Any, location: tuple[str | int, ...] = ()) -> Any:
    """The location of the first object naming a key twice, or None."""
    if isinstance(value, _Repeated):
        return (*location, value.key)
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for place, item in items:
        if isinstance(item, dict | list):
            found = _first_repeated(item, (*location, place))
            if found is not None:
                return found
    return None


class SentNumber(Decimal):
    """A JSON number read exactly, that writes itself as it was sent
    (``1e-400``, not ``Decimal``'s ``1E-400``) in a rule's words."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> SentNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _float(text: str) -> float | int | Decimal:
    number = float(text)
    if math.isinf(number):  # finite as JSON, beyond float64: kept as sent
        return SentNumber(text)
    if number.is_integer():  # finite and whole: is the text whole too?
        exact = SentNumber(text)
        if exact != exact.to_integral_value():
            return exact  # a fraction the float rounded away
        if MAX_INTEGER < abs(number) <= _EXACT_LIMIT:
            return int(exact)
    return number


def as_sent(value: Any) -> Any:
    """A value the reader read as a ``Decimal`` as JSON writes it back
    (``errors.kept_number``)."""
    return kept_number(value) if isinstance(value, Decimal) else value


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_float)
# Only for a body with a repeated key: marks the object so its place is found.
_LOCATOR = json.JSONDecoder(object_pairs_hook=_marked, parse_float=_float)


def read_json(body: bytes | str) -> Any:
    """``json.loads(body)``, refusing a repeated key and reading whole floats
    above 2**53 exactly.

    Raises:
        DuplicateKeyError: an object names a key twice.
        ValueError: what ``json.loads`` raises (not JSON, not UTF-8...).
    """
    # As json.loads detects UTF-8, -16 or -32, but strictly: UTF-8 bytes that
    # encode a surrogate are no text (json.loads would let them through).
    text = body if isinstance(body, str) else body.decode(json.detect_encoding(body))
    try:
        return _DECODER.decode(text)
    except _Repeat:
        # Rare: decoded again, marking objects, to name the key's place.
        raise DuplicateKeyError(_first_repeated(_LOCATOR.decode(text))) from None


async def read_request(request: Request) -> Any:
    """The request's body as ``read_json`` reads it, kept as Starlette's
    ``request.json()`` (so FastAPI reads the same); None when there is no
    body or it is not JSON (FastAPI's handler then answers as it would).

    Raises:
        APIError: a 422 naming a key given twice.
    """
    if hasattr(request, "_json"):
        return request._json  # Starlette's JSON cache
    body = await request.body()
    if not body:
        return None
    try:
        document = read_json(body)
    except DuplicateKeyError as exc:
        key = shorten(str(exc.location[-1]))
        raise APIError(
            422,
            [
                ErrorDetail(
                    field=field_name(("body", *exc.location)),
                    value=None,
                    rule=f"{key} is given twice in one object: send each key once",
                )
            ],
        ) from exc
    except UnicodeDecodeError as exc:  # FastAPI's 400, which says why
        raise HTTPException(
            status_code=400, detail="There was an error parsing the body"
        ) from exc
    except (ValueError, RecursionError):
        return None  # FastAPI's handler reads it and answers (400 or 422)
    request._json = document  # Starlette's JSON cache, which json() reads
    return document


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose JSON bodies are read by ``read_json``."""

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, after the body is read strictly."""
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                await read_request(request)
            except HTTPException:
                raise
            except Exception:  # noqa: S110 - the body cannot be read at all:
                pass  # FastAPI's handler tries again and answers (a 400)
            return await standard(request)

        return handler
