"""Hot endpoints served ahead of the framework's middleware and routing.

A few endpoints carry almost all of the traffic (the issuer's token, nonce and credential
endpoints; the verifier's response endpoint). For them, FastAPI's middleware stack,
router and dependency graph cost more CPU than the work itself. A :class:`FastRoute` is a
plain Starlette endpoint (``async (Request) -> Response``) that :class:`App` dispatches
directly when the method and path match; every other request goes through FastAPI as
usual. Each part keeps a documented FastAPI route for the same path (for the OpenAPI
schema) that calls the same handler.

What the bypassed layers did, done here instead: exceptions are rendered by the app's own
exception handlers (most specific class first, as Starlette does; anything unexpected is
logged by route and answered 500 without internals); request bodies are read with a size
cap (:func:`read_body`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from elicense.errors import InvalidRequest

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclasses.dataclass(frozen=True, slots=True)
class FastRoute:
    """``method`` and ``path`` (``{name}`` segments match one path segment)."""

    method: str
    path: str
    endpoint: Endpoint

    def pattern(self) -> re.Pattern[str] | None:
        if "{" not in self.path:
            return None
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


class FastRoutes:
    """Exact paths by dict lookup; parametrised paths by regex, in registration order."""

    def __init__(self, routes: Iterable[FastRoute] = ()) -> None:
        self._exact: dict[tuple[str, str], Endpoint] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Endpoint]] = []
        for route in routes:
            self.add(route)

    def add(self, route: FastRoute) -> None:
        pattern = route.pattern()
        if pattern is None:
            self._exact[(route.method, route.path)] = route.endpoint
        else:
            self._patterns.append((route.method, pattern, route.endpoint))

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        endpoint = self._exact.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        for route_method, pattern, endpoint in self._patterns:
            if route_method == method:
                found = pattern.match(path)
                if found is not None:
                    return endpoint, found.groupdict()
        return None


class App(FastAPI):
    """FastAPI, with :class:`FastRoutes` dispatched before the middleware stack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes = FastRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.fast_routes.match(scope["method"], scope["path"])
            if found is not None:
                scope["app"] = self
                scope["path_params"] = found[1]
                await self._serve(found[0], scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:  # noqa: BLE001 - rendered as the app's handlers render it
            response = await self._render(request, exc)
        await response(scope, receive, send)

    async def _render(self, request: Request, exc: Exception) -> Response:
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                result = handler(request, exc)
                rendered = await result if isinstance(result, Awaitable) else result
                assert isinstance(rendered, Response)
                return rendered
        raise exc  # pragma: no cover - the app registers a handler for Exception


class HotPools:
    """A hot path's own thread pools, one per database dialect, made on first use:
    cheaper to hop to than the framework's shared pool, and never starved by slow
    endpoints. ``threads`` by dialect name, ``default`` for the others. Used from the
    event loop's thread only, so no lock is needed."""

    def __init__(self, name: str, threads: Mapping[str, int], default: int) -> None:
        self._name, self._threads, self._default = name, dict(threads), default
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}

    def __call__(self, dialect: str) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pools.get(dialect)
        if pool is None:
            threads = self._threads.get(dialect, self._default)
            pool = self._pools[dialect] = concurrent.futures.ThreadPoolExecutor(
                threads, thread_name_prefix=self._name
            )
        return pool


async def read_body(request: Request, limit: int, *, code: str = "request_too_large") -> bytes:
    """The request body, refused (:class:`InvalidRequest` ``code``) once it exceeds ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidRequest("the request body is too large", code=code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest("the request body is too large", code=code)
        chunks.append(chunk)
    return b"".join(chunks)
