"""Routes declared beside their functions, registered on the app itself.

FastAPI 0.165 keeps an included ``APIRouter`` as a nested router that every
request matches twice (once to choose the router, once to choose the route
inside it): about 10 µs a request on this machine, a sixth of the bare
``GET /health/live``. A ``RouteTable`` records the same decorator arguments and
adds each route to the app with ``add_api_route``, so the app's own router
matches it once. The OpenAPI document came out byte for byte the same as
with ``include_router`` when this replaced it (``71e2b0d``). Each ``GET``
route answers ``HEAD`` as well (undocumented, as Starlette's own routes do),
for load balancers that probe with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI

__all__ = ["RouteTable"]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class RouteTable:
    """``APIRouter``'s ``get`` and ``post`` decorators, installed by ``install``."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        """Declare ``GET path`` (``FastAPI.get``'s options)."""
        return self._declare("GET", path, options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        """Declare ``POST path`` (``APIRouter.add_api_route``'s options, so
        ``route_class_override`` too)."""
        return self._declare("POST", path, options)

    def _declare(
        self, method: str, path: str, options: dict[str, Any]
    ) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self.routes.append((method, path, endpoint, options))
            return endpoint

        return declare

    def install(
        self, app: FastAPI, *, responses: Mapping[int | str, dict[str, Any]]
    ) -> None:
        """Add every route to ``app``, each also documenting ``responses``
        (as ``include_router(..., responses=...)`` would: the route's own
        entries win)."""
        for method, path, endpoint, options in self.routes:
            # The app's router itself (FastAPI.add_api_route forwards to it but
            # does not pass route_class_override on: serving/plain_route.py).
            app.router.add_api_route(
                path,
                endpoint,
                methods=[method],
                **{
                    **options,
                    "responses": {**responses, **options.get("responses", {})},
                },
            )
            if method == "GET":  # load balancers probe with HEAD too
                app.router.add_api_route(
                    path, endpoint, methods=["HEAD"], include_in_schema=False
                )
