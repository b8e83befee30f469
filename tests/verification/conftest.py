"""Fixtures for the verifier: an issuer, a status list, the app, RPs and a wallet."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from verification_support import (
    BANK_USCC,
    BASE_URL,
    CATALOG,
    HOTEL_GRANT,
    HOTEL_USCC,
    MORTGAGE_GRANT,
    AppRouter,
    DictSigners,
    Env,
)

from elicense.config import load_settings
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import ELicenseError
from elicense.runtime import Runtime
from elicense.status import service as status_service
from elicense.status.api import router as status_router
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.verification import service
from elicense.verification.api import router as verification_router
from elicense.verification.context import build_context

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def issuer_signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def trust(issuer_signer: LocalSigner) -> TrustList:
    jwk = {**issuer_signer.public_jwk, "kid": issuer_signer.kid}
    return single_issuer(BASE_URL, [jwk])


def _app(runtime: Runtime) -> FastAPI:
    """The status and verification routers with the platform's problem+json handler (not
    ``create_app``, so these tests do not depend on the other parts' routers)."""
    app = FastAPI()
    app.state.runtime = runtime
    app.add_exception_handler(ELicenseError, _problem)
    app.include_router(status_router)
    app.include_router(verification_router)
    return app


async def _problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ELicenseError)
    return JSONResponse(
        exc.to_problem(), status_code=exc.status, media_type="application/problem+json"
    )


@pytest.fixture
def env_factory(
    fresh_db: Database, tmp_path: Path, trust: TrustList, issuer_signer: LocalSigner
) -> Iterator[Callable[..., Env]]:
    clients: list[TestClient] = []

    def make(retention: int = 600, request_ttl: int = 300, real_webhooks: bool = False) -> Env:
        """``real_webhooks``: deliveries go over the network (else to ``transport``)."""
        settings = load_settings(
            {"ELICENSE_PUBLIC_BASE_URL": BASE_URL, "ELICENSE_DATA_DIR": str(tmp_path)}
        )
        runtime = Runtime(settings=settings, db=fresh_db, sealer=Sealer.generate())
        app = _app(runtime)
        app.state.status_signers = DictSigners(
            {"civil_affairs": issuer_signer, "public_security": issuer_signer}
        )
        transport = AppRouter()
        ctx = build_context(
            runtime,
            trust=trust,
            catalog=CATALOG,
            status_transport=transport,
            webhook_transport=None if real_webhooks else transport,
            result_retention=retention,
            request_ttl=request_ttl,
            admin_token="admin-secret",
        )
        app.state.verification = ctx
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        transport.client = client
        with fresh_db.transaction() as session:
            list_id = status_service.create_list(
                session, "marriage_license", signing_key="civil_affairs"
            ).id
        return Env(app, client, ctx, fresh_db, transport, issuer_signer, list_id)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def env(env_factory: Callable[..., Env]) -> Env:
    return env_factory()


@pytest.fixture
def bank(env: Env) -> service.Registered:
    return env.register(
        "Bank of Nanshan",
        BANK_USCC,
        "bank",
        "440300",
        "bank.example.com",
        [MORTGAGE_GRANT],
        webhook="https://bank.example.com/hooks/vp",
    )


@pytest.fixture
def hotel(env: Env) -> service.Registered:
    return env.register(
        "Shenzhen Bay Hotel", HOTEL_USCC, "hotel", "440300", "hotel.example.com", [HOTEL_GRANT]
    )
