"""A route whose plainest requests skip FastAPI's general request machinery.

For every request FastAPI's handler parses the Content-Type with the ``email``
package, builds the endpoint's context for error messages, reads the query
string into a multi-dict, and solves the dependency graph, before and around
validating the body: on ``POST /v1/predict`` that is more time than validating
and scoring the session shared with the requests that arrive with it
(``docs/performance.md``).

``PlainJSONRoute`` is FastAPI's documented hook for this (a custom
``APIRoute`` whose ``get_route_handler`` returns the handler). Its handler
takes the one kind of request that needs none of that machinery: a JSON body
sent as ``application/json``, and a query string that is empty or sets the
route's boolean flags to ``true`` or ``false``. The body is validated by the
route's own body field, exactly as FastAPI validates it, and the endpoint is
called with what FastAPI would pass it; a body that fails validation raises
the ``RequestValidationError`` FastAPI's handler would raise for it. Any other
request, and any body that is not valid JSON, goes to FastAPI's own handler
(the body already read is kept by the request), so every error is FastAPI's
own, and the OpenAPI document is FastAPI's, from the endpoint's signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import get_telemetry_data
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from customer_purchase_prediction.serving.json_reader import (
    StrictJSONRoute,
    read_request,
)

__all__ = ["PlainJSONRoute"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# The one Content-Type the plain path reads (as FastAPI writes JSON); any other,
# parameters such as charset included, goes to FastAPI's handler.
JSON_MEDIA_TYPE = b"application/json"
_VALUES = {b"true": True, b"false": False}


class PlainJSONRoute(StrictJSONRoute):
    """An ``APIRoute`` (use as ``route_class_override``) for an ``async``
    endpoint that takes the ``Request``, one JSON body and boolean query flags,
    depends on nothing else, and returns a ``Response``.

    Raises:
        TypeError: the endpoint takes anything else (the plain path would
            skip it), or is not ``async``.
    """

    def get_route_handler(self) -> Handler:
        """FastAPI's handler (reading JSON strictly), and in front of it the
        plain path."""
        standard = super().get_route_handler()
        dependant = self.dependant
        flags = {field.alias: field for field in dependant.query_params}
        unsupported = [
            what
            for what, present in (
                ("a dependency", dependant.dependencies),
                ("a path parameter", dependant.path_params),
                ("a header", dependant.header_params),
                ("a cookie", dependant.cookie_params),
                ("a response parameter", dependant.response_param_name),
                ("background tasks", dependant.background_tasks_param_name),
                (
                    "a query parameter other than a flag with a default",
                    any(
                        field.field_info.annotation is not bool
                        or field.field_info.is_required()
                        for field in flags.values()
                    ),
                ),
                ("no request parameter", dependant.request_param_name is None),
                ("no single JSON body", len(dependant.body_params) != 1),
                ("a plain def", not inspect.iscoroutinefunction(dependant.call)),
            )
            if present
        ]
        if unsupported:
            raise TypeError(
                f"PlainJSONRoute {self.path}: the endpoint takes "
                f"{', '.join(unsupported)}; declare it with the default APIRoute"
            )
        call = dependant.call
        assert call is not None  # noqa: S101 - checked above (a coroutine function)
        body_field = self.body_field
        assert body_field is not None  # noqa: S101 - one body parameter, checked
        request_name = dependant.request_param_name
        body_name = body_field.name
        defaults = {field.name: field.field_info.default for field in flags.values()}
        names = {alias.encode(): field.name for alias, field in flags.items()}

        def plain_flags(query: bytes) -> dict[str, bool] | None:
            """The flags of a query string such as ``explain=true``, or None
            when it holds anything else (FastAPI then reads it)."""
            values = dict(defaults)
            if query:
                for pair in query.split(b"&"):
                    key, _, value = pair.partition(b"=")
                    if key not in names or value not in _VALUES:
                        return None
                    values[names[key]] = _VALUES[value]
            return values

        async def handler(request: Request) -> Response:
            scope = request.scope
            values = plain_flags(scope["query_string"])
            if (
                values is None
                or MAX_BODY_SIZE_SCOPE_KEY in scope
                or _content_type(scope["headers"]) != JSON_MEDIA_TYPE
                or get_telemetry_data() is not None
            ):
                return await standard(request)
            try:
                # The service's JSON reader (a key twice is a 422), its
                # document kept for FastAPI's handler (serving/json_reader.py).
                document = await read_request(request)
            except HTTPException:
                raise
            except Exception as exc:  # the client went away mid-body
                # FastAPI's own answer when the body cannot be read.
                raise HTTPException(
                    status_code=400, detail="There was an error parsing the body"
                ) from exc
            # No body, null, or not JSON (not UTF-8, nested too deep...):
            # FastAPI's own answer for each.
            if document is None:
                return await standard(request)
            value, errors = body_field.validate(document, {}, loc=("body",))
            if errors:
                # What FastAPI's handler would raise, validating the same body
                # with the same field (once: a body of 100,000 unknown keys is
                # costly enough to validate one time).
                raise RequestValidationError(errors, body=document)
            values[request_name] = request  # type: ignore[index]
            values[body_name] = value
            response = await call(**values)
            if not isinstance(response, Response):
                raise TypeError(
                    f"PlainJSONRoute {self.path}: the endpoint must return a "
                    f"Response; got {type(response).__name__}"
                )
            return response

        return handler


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The first Content-Type header's value, as FastAPI reads it."""
    for name, value in headers:
        if name == b"content-type":
            return value
    return None
