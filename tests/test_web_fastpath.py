"""Fast routes: dispatched ahead of FastAPI's middleware, rendered by the app's handlers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from elicense.config import load_settings
from elicense.errors import InvalidGrant, NotFound
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app
from elicense.web.fastpath import FastRoute, FastRoutes, read_body


async def _echo(request: Request) -> Response:
    body = await read_body(request, 16)
    return JSONResponse({"params": request.path_params, "body": body.decode()})


async def _domain(_request: Request) -> Response:
    raise NotFound("no such thing", code="thing_unknown")


async def _oauth(_request: Request) -> Response:
    raise InvalidGrant("the code was used")


async def _crash(_request: Request) -> Response:
    raise RuntimeError("secret internals 110101199003070011")


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    db = Database(f"sqlite:///{tmp_path / 'fast.db'}")
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    app = create_app(Runtime(settings, db, Sealer.generate()))
    for route in (
        FastRoute("POST", "/fast/echo/{item}", _echo),
        FastRoute("GET", "/fast/domain", _domain),
        FastRoute("GET", "/fast/oauth", _oauth),
        FastRoute("GET", "/fast/crash", _crash),
    ):
        app.fast_routes.add(route)
    return TestClient(app, raise_server_exceptions=False)


def test_path_parameters_and_body(client: TestClient) -> None:
    response = client.post("/fast/echo/abc", content=b"hello")
    assert response.status_code == 200
    assert response.json() == {"params": {"item": "abc"}, "body": "hello"}


def test_other_methods_and_paths_fall_through_to_fastapi(client: TestClient) -> None:
    assert client.get("/fast/echo/abc").status_code in (404, 405)
    assert client.post("/fast/echo/a/b", content=b"x").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}


def test_body_over_the_cap_is_refused_before_the_handler_sees_it(client: TestClient) -> None:
    response = client.post("/fast/echo/abc", content=b"x" * 17)
    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"

    def chunks() -> object:
        yield b"x" * 10
        yield b"x" * 10

    streamed = client.post("/fast/echo/abc", content=chunks())  # no content-length
    assert streamed.json()["code"] == "request_too_large"


def test_domain_errors_are_problem_json(client: TestClient) -> None:
    response = client.get("/fast/domain")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "thing_unknown"


def test_issuance_errors_use_the_oauth_shape(client: TestClient) -> None:
    response = client.get("/fast/oauth")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unexpected_errors_are_500_without_internals(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.get("/fast/crash")
    assert response.status_code == 500
    assert response.json()["code"] == "internal"
    assert "secret" not in response.text
    assert "110101199003070011" not in caplog.text
    assert "/fast/crash" in caplog.text


def test_exact_paths_win_and_patterns_match_one_segment() -> None:
    async def a(_r: Request) -> Response:
        return Response()

    routes = FastRoutes([FastRoute("GET", "/x/{id}", a), FastRoute("GET", "/x/fixed", a)])
    assert routes.match("GET", "/x/fixed") == (a, {})
    assert routes.match("GET", "/x/42") == (a, {"id": "42"})
    assert routes.match("GET", "/x/4/2") is None
    assert routes.match("POST", "/x/42") is None
