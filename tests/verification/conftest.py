"""Fixtures for the verifier: an issuer, a status list, the app, RPs and a wallet."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from elicense import clock
from elicense.catalog import load_catalog
from elicense.config import load_settings
from elicense.crypto.keystore import LocalSigner, Signer
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import ELicenseError
from elicense.formats.sd_jwt_vc import StatusReference, issue_credential
from elicense.runtime import Runtime
from elicense.status import service as status_service
from elicense.status.api import router as status_router
from elicense.status.token_status_list import Status
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.verification import service
from elicense.verification.api import router as verification_router
from elicense.verification.context import VerificationContext, build_context
from elicense.verification.policy import Grant
from elicense.wallet.openid4vp import Held

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

BASE_URL = "https://elicense.example.gov.cn"
CATALOG = load_catalog(base_url=BASE_URL)
BANK_USCC = "91350100M000100Y43"
HOTEL_USCC = "9144030071526726XG"
OTHER_HOTEL_USCC = "91330100799655058B"
REGISTRY_USCC = "91110000802100433B"
MARRIAGE = {
    "certificate_number": "J440305-2024-000123",
    "registration_date": "2024-05-20",
    "registration_office": "Nanshan Civil Affairs Office",
    "marital_status": "married",
    "holder": {
        "name": "刘洋",
        "sex": "male",
        "birth_date": "1990-04-01",
        "nationality": "CHN",
        "id_number": "440305199004011234",
    },
    "spouse": {
        "name": "周婷",
        "sex": "female",
        "birth_date": "1992-08-09",
        "nationality": "CHN",
        "id_number": "440305199208092345",
    },
}
RESIDENT = {
    "name": "刘洋",
    "sex": "male",
    "birth_date": "1990-04-01",
    "nationality": "CHN",
    "id_number": "440305199004011234",
    "photo": "data:image/jpeg;base64,AAAA",
    "issuing_region": "440305",
}


@dataclasses.dataclass
class DictSigners:
    signers: dict[str, Signer]

    def signer_for(self, key_name: str) -> Signer:
        return self.signers[key_name]


@pytest.fixture(scope="session")
def issuer_signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def trust(issuer_signer: LocalSigner) -> TrustList:
    jwk = {**issuer_signer.public_jwk, "kid": issuer_signer.kid}
    return single_issuer(BASE_URL, [jwk])


class AppRouter(httpx.BaseTransport):
    """An httpx transport that sends requests to the test app (status lists, request_uri,
    responses) or, for other hosts, to ``others`` (webhook capture)."""

    def __init__(self) -> None:
        self.client: TestClient | None = None
        self.captured: list[httpx.Request] = []
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "elicense.example.gov.cn":
            request.read()
            self.captured.append(request)
            return httpx.Response(204)
        if self.down and request.url.path.startswith("/status/"):
            raise httpx.ConnectError("connection refused")
        assert self.client is not None
        body = request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        response = self.client.request(
            request.method, request.url.path, content=body, headers=headers
        )
        return httpx.Response(
            response.status_code, headers=dict(response.headers), content=response.content
        )


@dataclasses.dataclass
class Env:
    app: FastAPI
    client: TestClient
    ctx: VerificationContext
    db: Database
    transport: AppRouter
    issuer: LocalSigner
    list_id: str

    def http(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def register(
        self,
        name: str,
        code: str,
        sector: str,
        region: str,
        host: str,
        grants: list[Grant],
        webhook: str | None = None,
        prefix: str = "x509_san_dns",
    ) -> service.Registered:
        with self.db.transaction() as session:
            return service.register_rp(
                session,
                self.ctx,
                name=name,
                uscc_code=code,
                sector=sector,
                region=region,
                client_host=host,
                grants=grants,
                webhook_url=webhook,
                client_id_prefix=prefix,
            )

    def auth(self, registered: service.Registered) -> tuple[str, str]:
        return (registered.rp.id, registered.client_secret)

    def credential(
        self,
        type_id: str,
        claims: dict[str, Any],
        *,
        status: Status = Status.VALID,
        expires_in: int = 3600,
        signer: LocalSigner | None = None,
    ) -> Held:
        holder = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        with self.db.transaction() as session:
            ref = status_service.allocate(
                session, self.list_id, f"c-{id(holder)}-{clock.epoch()}", base_url=BASE_URL
            )
            if status is not Status.VALID:
                status_service.set_status(session, self.list_id, ref.idx, status)
        ctype = CATALOG.get(type_id)
        sd = [
            tuple(c.path.split("."))
            for c in ctype.all_claims()
            if c.selectively_disclosable and _has(claims, c.path)
        ]
        issued = issue_credential(
            signer=signer or self.issuer,
            issuer=BASE_URL,
            vct=ctype.vct,
            claims=claims,
            selectively_disclosable=sd,
            holder_jwk=holder.public_jwk,
            expires_at=clock.epoch() + expires_in,
            status=StatusReference(ref.uri, ref.idx),
        )
        return Held(issued.serialize(), ctype.vct, claims, holder)


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


def _has(claims: dict[str, Any], dotted: str) -> bool:
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


@pytest.fixture
def env_factory(
    fresh_db: Database, tmp_path: Path, trust: TrustList, issuer_signer: LocalSigner
) -> Iterator[Callable[..., Env]]:
    clients: list[TestClient] = []

    def make(retention: int = 600, request_ttl: int = 300) -> Env:
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
            webhook_transport=transport,
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


MORTGAGE_GRANT = Grant(
    "marriage_license",
    frozenset({"mortgage"}),
    frozenset(
        {"marital_status", "holder.name", "holder.id_number", "spouse.name", "spouse.id_number"}
    ),
)
HOTEL_GRANT = Grant(
    "resident_id",
    frozenset({"hotel_check_in"}),
    frozenset({"name", "id_number", "photo", "issuing_region"}),
)


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
