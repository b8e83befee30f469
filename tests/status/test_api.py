"""GET /status/lists/{id}: content negotiation, ETag/304, cache headers, problem+json."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from elicense.config import load_settings
from elicense.crypto.trust import IssuerKey
from elicense.errors import ELicenseError
from elicense.runtime import Runtime
from elicense.status import check, service
from elicense.status.api import negotiate, router
from elicense.status.service import SignerSource
from elicense.status.token import CWT_MEDIA_TYPE, JWT_MEDIA_TYPE, TokenForm
from elicense.status.token_status_list import Status
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app

with warnings.catch_warnings():
    # Starlette >= 1.x warns that it prefers ``httpx2`` over ``httpx``; the client works
    # (same workaround as tests/registry/test_registry_api.py).
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

BASE_URL = "https://issuer.example.gov.cn"


def _app(db: Database, signers: SignerSource | None) -> FastAPI:
    settings = load_settings({"ELICENSE_PUBLIC_BASE_URL": BASE_URL, "ELICENSE_DATA_DIR": "/tmp"})
    app = create_app(Runtime(settings=settings, db=db, sealer=Sealer.generate()))
    if not any(getattr(r, "path", "") == "/status/lists/{list_id}" for r in app.routes):
        app.include_router(router)  # until web.app mounts the status router itself
    if signers is not None:
        app.state.status_signers = signers
    return app


@pytest.fixture
def client(db: Database, signers: SignerSource) -> Iterator[TestClient]:
    with TestClient(_app(db, signers)) as test_client:
        yield test_client


@pytest.fixture
def revoked(db: Database) -> check.StatusReference:
    with db.transaction() as session:
        list_id = service.create_list(session, "marriage_license", signing_key="civil_affairs").id
        reference = service.allocate(session, list_id, f"api-{list_id}", base_url=BASE_URL)
        service.set_status(session, list_id, reference.idx, Status.INVALID)
    return reference


def _path(reference: check.StatusReference) -> str:
    return reference.uri.removeprefix(BASE_URL)


def test_default_is_the_jwt_form(
    client: TestClient, revoked: check.StatusReference, issuer_keys: list[IssuerKey]
) -> None:
    response = client.get(_path(revoked))
    assert response.status_code == 200
    assert response.headers["content-type"] == JWT_MEDIA_TYPE
    assert response.headers["cache-control"] == f"public, max-age={service.DEFAULT_TTL_SECONDS}"
    assert response.headers["vary"] == "Accept, Accept-Encoding"
    assert response.headers["etag"].startswith('"v2-jwt-')
    assert check.read_status(response.text, revoked.to_claim(), issuer_keys) == Status.INVALID


def test_cwt_form_on_request(
    client: TestClient, revoked: check.StatusReference, issuer_keys: list[IssuerKey]
) -> None:
    response = client.get(_path(revoked), headers={"Accept": CWT_MEDIA_TYPE})
    assert response.status_code == 200
    assert response.headers["content-type"] == CWT_MEDIA_TYPE
    with pytest.raises(ELicenseError) as excinfo:
        check.check_status(response.content, revoked.to_claim(), issuer_keys)
    assert excinfo.value.instance_code == "credential_revoked"


def test_if_none_match_gives_304_until_the_list_changes(
    client: TestClient, revoked: check.StatusReference, db: Database
) -> None:
    first = client.get(_path(revoked))
    etag = first.headers["etag"]
    again = client.get(_path(revoked), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"].startswith("public, max-age=")
    cached = client.get(_path(revoked))
    assert cached.content == first.content
    list_id = revoked.uri.rsplit("/", 1)[1]
    with db.transaction() as session:
        other = service.allocate(session, list_id, f"api2-{list_id}", base_url=BASE_URL)
        service.set_status(session, list_id, other.idx, Status.SUSPENDED)
    changed = client.get(_path(revoked), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_unknown_list_is_problem_json_404(client: TestClient) -> None:
    response = client.get("/status/lists/sl_nothing_here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "status_list_not_found"


def test_unsupported_accept_is_406(client: TestClient, revoked: check.StatusReference) -> None:
    response = client.get(_path(revoked), headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


def test_missing_signing_keys_is_503(db: Database, revoked: check.StatusReference) -> None:
    with TestClient(_app(db, None)) as bare:
        response = bare.get(_path(revoked))
    assert response.status_code == 503
    assert response.json()["code"] == "status_no_keys"


@pytest.mark.parametrize(
    ("accept", "form"),
    [
        (None, TokenForm.JWT),
        ("*/*", TokenForm.JWT),
        ("application/*", TokenForm.JWT),
        (CWT_MEDIA_TYPE, TokenForm.CWT),
        (f"{JWT_MEDIA_TYPE};q=0.5, {CWT_MEDIA_TYPE}", TokenForm.CWT),
        (f"{CWT_MEDIA_TYPE};q=0.2, */*;q=0.9", TokenForm.JWT),
        (f"{JWT_MEDIA_TYPE};q=0, */*", TokenForm.CWT),
        (f"{CWT_MEDIA_TYPE}, {JWT_MEDIA_TYPE}", TokenForm.JWT),
    ],
)
def test_negotiation(accept: str | None, form: TokenForm) -> None:
    assert negotiate(accept) is form
