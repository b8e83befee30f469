"""The ASGI application: composes each part's router; holds no business rule."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elicense import __version__
from elicense.errors import ELicenseError, IssuanceError
from elicense.runtime import with_catalog
from elicense.web.deps import Runtime
from elicense.web.fastpath import App, FastRoute

log = logging.getLogger("elicense.web")
PROBLEM = "application/problem+json"


def create_app(runtime: Runtime) -> FastAPI:
    from elicense.issuance.api import oauth_error_response

    runtime = with_catalog(runtime)
    app = App(
        title="eLicense",
        version=__version__,
        description="Issue electronic certificates and licenses to citizens' phones; "
        "verify them anywhere.",
        lifespan=_lifespan,
    )
    app.state.runtime = runtime
    app.state.status_signers = runtime.issuer_keys
    app.state.event_loop = None
    app.add_exception_handler(ELicenseError, _domain_error)
    app.add_exception_handler(IssuanceError, oauth_error_response)
    app.add_middleware(WakeEventsAfterRegistryWrites)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for router in _routers():
        app.include_router(router)
    for route in _fast_routes():
        app.fast_routes.add(route)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        runtime.db.check_connection()
        return {"status": "ok"}

    return app


def _routers() -> list[Any]:
    from elicense.issuance.api import router as issuance_router
    from elicense.issuance.reoffers_api import router as reoffers_router
    from elicense.proofing.api import router as proofing_router
    from elicense.registry.api import router as registry_router
    from elicense.status.api import router as status_router
    from elicense.verification.api import router as verification_router
    from elicense.verification.history_api import router as history_router

    return [
        registry_router,
        proofing_router,
        issuance_router,
        status_router,
        verification_router,
        reoffers_router,
        history_router,
    ]


def _fast_routes() -> list[FastRoute]:
    from elicense.issuance.api import FAST_ROUTES as issuance_fast_routes
    from elicense.verification.api import FAST_ROUTES as verification_fast_routes

    return [*issuance_fast_routes, *verification_fast_routes]


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Server processes (``open_runtime``) provision issuer keys and run the life-event
    processor in a thread: once at start, then when woken or every few seconds."""
    from elicense.issuance.events import EventLoop

    runtime: Runtime = app.state.runtime
    loop = None
    if runtime.background_events and runtime.catalog is not None:
        assert runtime.issuer_keys is not None
        runtime.issuer_keys.provision()
        loop = EventLoop(runtime.db, runtime.catalog)
        loop.start()
        app.state.event_loop = loop
    try:
        yield
    finally:
        if loop is not None:
            loop.stop()


class WakeEventsAfterRegistryWrites:
    """Pure ASGI middleware: after a successful registry write, wake the life-event loop
    (so a divorce revokes within a second, not at the next poll). Other requests pass
    straight through, untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "GET"
            or not scope["path"].startswith("/registry")
        ):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        loop = scope["app"].state.event_loop
        if loop is not None and status < 400:
            loop.wake()


def _problem(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ELicenseError)
    return _problem(exc.to_problem(), exc.status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()
    ]
    body = {
        "type": "urn:elicense:error:validation_failed",
        "title": "Invalid input",
        "status": 422,
        "detail": "the request does not match the expected shape",
        "code": "validation_failed",
        "errors": errors,
    }
    return _problem(body, 422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Never echo internals (or personal data) to the client; the log names the route only.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    body = {
        "type": "urn:elicense:error:internal",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred; it has been logged",
        "code": "internal",
    }
    return _problem(body, 500)
