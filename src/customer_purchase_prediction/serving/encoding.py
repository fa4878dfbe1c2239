"""JSON answers that are always written, whatever text a request carried.

JSON's ``\\uD800`` escape can put a lone UTF-16 surrogate in a string, and
Python's JSON reader takes it: a value that is no character, which UTF-8
cannot encode. Echoed in a 422 or a batch reject, it would make the answer
itself fail (a 500). An answer holding one is written with every non-ASCII
character escaped instead, which a JSON reader turns back into exactly the
text that was sent; every other answer is written as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic_core import PydanticSerializationError, to_json

__all__ = ["ServiceJSONResponse", "json_bytes"]


def json_bytes(payload: Any) -> bytes:
    """``payload`` as UTF-8 JSON: floats as the shortest text that reads back
    as the same float64, ``Infinity`` and ``NaN`` as null, and text that UTF-8
    cannot encode escaped (``\\ud800``)."""
    try:
        return to_json(payload, inf_nan_mode="null")
    except PydanticSerializationError:
        # Only a lone surrogate makes plain values unwritable: escaped, the
        # reader gets the same text back (and the same floats: json.dumps
        # writes the shortest repr too).
        return json.dumps(
            _finite(payload), ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None (as ``inf_nan_mode="null"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class ServiceJSONResponse(JSONResponse):
    """Starlette's ``JSONResponse``, written by ``json_bytes``."""

    def render(self, content: Any) -> bytes:
        """The body: ``content`` as ``json_bytes`` writes it."""
        return json_bytes(content)
