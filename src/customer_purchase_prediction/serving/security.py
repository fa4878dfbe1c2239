"""Safe defaults: the API key for ``/v1/*``, request size limits, clean 4xx errors.

One ASGI middleware, in front of FastAPI's routing, refuses before the endpoint
runs:

- a request to ``/v1/*`` without the configured key in ``X-API-Key`` (401;
  compared in constant time, never echoed or logged);
- a body larger than ``max_body_bytes`` (413), by its ``Content-Length`` or, for
  a chunked body, as soon as the bytes received pass the limit;
- a ``POST`` to ``/v1/*`` whose ``Content-Type`` is not JSON, or whose body is
  compressed (``Content-Encoding``) (415).

``is_loopback`` tells ``kedro serve`` which addresses it may bind without a key.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.encoding import json_bytes
from customer_purchase_prediction.serving.schemas import ErrorResponse

API_KEY_HEADER = "X-API-Key"
PROTECTED_PREFIX = "/v1/"
SECURITY_SCHEME = "APIKeyHeader"
JSON_TYPES = ("application/json",)
# JSON is UTF-8 (RFC 8259): a body declared in another charset is refused,
# not read as UTF-8 regardless.
_UTF8 = frozenset(("utf-8", "utf8"))


def _charset(parameters: list[bytes]) -> str | None:
    """The ``charset`` of a Content-Type's parameters (lowercase, unquoted)."""
    for parameter in parameters:
        name, _, value = parameter.partition(b"=")
        if name.strip().lower() == b"charset":
            return value.strip().strip(b'"').decode("latin-1").lower()
    return None


def _media_refusal(
    headers: dict[bytes, bytes],
) -> tuple[int, str | None, Any, str] | None:
    """A POST body's 415 (not JSON, or not UTF-8), or None."""
    given = headers.get(b"content-type")
    media, *parameters = (given or b"").split(b";")
    media = media.strip().lower()
    if media.decode("latin-1") not in JSON_TYPES:
        shown = media.decode("latin-1")[:60]
        return (
            415,
            "Content-Type",
            shown or None,
            (
                f"Content-Type must be application/json; got {shown!r}"
                if given is not None
                else "the Content-Type header is missing: send "
                "Content-Type: application/json"
            ),
        )
    charset = _charset(parameters)
    if charset is not None and charset not in _UTF8:
        shown = charset[:60]
        return (
            415,
            "Content-Type",
            shown,
            f"charset {shown!r} is not read: send the body as UTF-8 "
            "(charset=utf-8, or no charset)",
        )
    return None


# The responses this middleware gives, for the OpenAPI document of each route.
SECURITY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": f"Missing or wrong API key (header {API_KEY_HEADER}), "
        "when the service has one.",
    },
    413: {
        "model": ErrorResponse,
        "description": "The body is larger than the service accepts.",
    },
    415: {
        "model": ErrorResponse,
        "description": (
            "The body is not sent as JSON (Content-Type application/json, "
            "missing, or declaring a charset other than UTF-8), or is "
            "compressed (Content-Encoding)."
        ),
    },
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def install_security(app: FastAPI, settings: ServiceSettings) -> None:
    """Require the API key on ``/v1/*`` when one is configured; limit bodies."""
    app.add_middleware(
        RequestGuard,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        max_body_bytes=settings.max_body_bytes,
        routes=lambda: app.routes,
    )


def document_api_key(app: FastAPI, settings: ServiceSettings) -> None:
    """With a key configured, declare it in the OpenAPI document (an ``apiKey``
    scheme in ``X-API-Key`` on every ``/v1/*`` operation), so ``/docs`` can send it
    and a generated client knows it. Call after the app's other OpenAPI changes."""
    if settings.api_key is None:
        return
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemes = document.setdefault("components", {}).setdefault(
            "securitySchemes", {}
        )
        if SECURITY_SCHEME not in schemes:
            schemes[SECURITY_SCHEME] = {
                "type": "apiKey",
                "in": "header",
                "name": API_KEY_HEADER,
            }
            for path, operations in document.get("paths", {}).items():
                if path.startswith(PROTECTED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{SECURITY_SCHEME: []}]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


class RequestGuard:
    """Refuses unauthorised, oversized and non-JSON requests with a clear 4xx."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None,
        max_body_bytes: int,
        routes: Callable[[], Iterable[Any]] = tuple,
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.routes = routes
        self.post_paths: frozenset[str] | None = None

    def _posts(self, path: str) -> bool:
        """Whether a route takes ``POST`` at ``path``: only a body a route
        reads is checked for its type (a POST to ``/v1/model`` is a 405, to
        ``/v1/nope`` a 404, not a 415)."""
        if self.post_paths is None:
            self.post_paths = frozenset(
                route.path
                for route in self.routes()
                if "POST" in (getattr(route, "methods", None) or ())
            )
        return path in self.post_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with its body size watched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        problem = self._refusal(scope, headers)
        if problem is not None:
            await _send_json(send, *problem)
            return
        await self.app(scope, *self._limited(receive, send))

    def _refusal(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, str | None, Any, str] | None:
        path: str = scope.get("path", "")
        protected = path.startswith(PROTECTED_PREFIX)
        if protected and self.api_key is not None:
            # Spaces and tabs around a header's value are not part of it
            # (RFC 9110 5.5); the parser leaves the trailing ones.
            given = headers.get(API_KEY_HEADER.lower().encode(), b"").strip(b" \t")
            if not hmac.compare_digest(given, self.api_key):
                what = "wrong" if given else "missing"
                # The value given is never echoed: it may be a real key.
                return (
                    401,
                    API_KEY_HEADER,
                    None,
                    (
                        f"API key {what}: send the service's key in the "
                        f"{API_KEY_HEADER} header"
                    ),
                )
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                shown = length.decode("latin-1")[:60]
                return (
                    400,
                    "Content-Length",
                    shown,
                    ("Content-Length must be a whole number of bytes"),
                )
            if int(length) > self.max_body_bytes:
                return 413, None, int(length), self._too_large(int(length))
        if protected and scope.get("method") == "POST" and self._posts(path):
            coding = _content_coding(scope)
            if coding is not None:
                shown = coding.decode("latin-1")[:60]
                return (
                    415,
                    "Content-Encoding",
                    shown,
                    f"Content-Encoding {shown!r} is not supported: send the body "
                    "uncompressed",
                )
            return _media_refusal(headers)
        return None

    def _too_large(self, size: int, *, more: bool = False) -> str:
        """The 413's rule for ``size`` bytes (``more``: a chunked body, cut off
        once it passed the limit)."""
        got = f"{size:,} bytes" + (" and more" if more else "")
        limit = f"{self.max_body_bytes:,} bytes (serving.max_body_bytes)"
        return (
            f"request body too large: {got}, the limit is {limit}; send fewer "
            "sessions per request"
        )

    def _limited(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """``receive`` and ``send`` that answer 413 once a chunked body passes
        the limit: the app then sees the client gone, and what it sends after
        is dropped."""
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    await _send_json(
                        send,
                        413,
                        None,
                        received,
                        self._too_large(received, more=True),
                    )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        return limited_receive, guarded_send


def _content_coding(scope: Scope) -> bytes | None:
    """The first content coding other than ``identity`` in any of the request's
    Content-Encoding headers (a list, and the header may repeat), else None."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-encoding":
            for part in value.split(b","):
                coding = part.strip().lower()
                if coding not in (b"", b"identity"):
                    return coding
    return None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by lower-case name; a repeated header's first
    value, as Starlette and FastAPI read it (the guard checks what the app
    will use)."""
    return {name.lower(): value for name, value in reversed(scope.get("headers", []))}


async def _send_json(
    send: Send, status: int, field: str | None, value: Any, rule: str
) -> None:
    """Answer in the service's one error shape, without reaching the app."""
    problem = {"field": field, "value": value, "rule": rule}
    body = json_bytes({"detail": [problem]})  # as every other answer is written
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
