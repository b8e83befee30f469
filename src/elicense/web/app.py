"""The ASGI application: composes each part's router; holds no business rule."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from elicense import __version__
from elicense.errors import ELicenseError
from elicense.web.deps import Runtime

log = logging.getLogger("elicense.web")
PROBLEM = "application/problem+json"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="eLicense",
        version=__version__,
        description="Issue electronic certificates and licenses to citizens' phones; "
        "verify them anywhere.",
    )
    app.state.runtime = runtime
    app.add_exception_handler(ELicenseError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for router in _routers():
        app.include_router(router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        runtime.db.check_connection()
        return {"status": "ok"}

    return app


def _routers() -> list[Any]:
    from elicense.proofing.api import router as proofing_router
    from elicense.registry.api import router as registry_router

    return [registry_router, proofing_router]


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
