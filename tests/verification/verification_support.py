"""Shared constants, test doubles and request helpers for the verifier's tests.

Imported by name (``from verification_support import ...``), never through ``conftest``:
``conftest`` resolves to whichever suite's conftest pytest loaded last. Fixtures stay in
``conftest.py``.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from elicense import clock
from elicense.catalog import load_catalog
from elicense.crypto.keystore import LocalSigner, Signer
from elicense.formats import sd_jwt
from elicense.formats.sd_jwt_vc import StatusReference, issue_credential
from elicense.status import service as status_service
from elicense.status.token_status_list import Status
from elicense.storage.db import Database
from elicense.verification import dcql, service
from elicense.verification.context import VerificationContext
from elicense.verification.policy import Grant
from elicense.wallet import openid4vp
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


@dataclasses.dataclass
class DictSigners:
    signers: dict[str, Signer]

    def signer_for(self, key_name: str) -> Signer:
        return self.signers[key_name]


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
        # the test client has already decoded any content coding: do not declare it again
        forwarded = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length")
        }
        return httpx.Response(response.status_code, headers=forwarded, content=response.content)


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


def _has(claims: dict[str, Any], dotted: str) -> bool:
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


# --- requests, presentations and results through the HTTP API ---------------------------


def create(env: Env, rp: service.Registered, **body: Any) -> dict[str, Any]:
    body = body or {"preset": "mortgage"}
    response = env.client.post("/verification/requests", json=body, auth=env.auth(rp))
    assert response.status_code == 201, response.text
    return dict(response.json())


def fetch(env: Env, created: dict[str, Any]) -> openid4vp.PresentationRequest:
    return openid4vp.fetch_request(
        created["request_uri"], anchors=[env.ctx.ca.certificate], client=env.http()
    )


def post_vp(env: Env, created: dict[str, Any], held: Held, **options: Any) -> Any:
    """POST the wallet's ``direct_post`` (see :func:`vp_form` for ``options``)."""
    path, form = vp_form(env, created, held, **options)
    return env.client.post(path, data=form)


def vp_form(
    env: Env,
    created: dict[str, Any],
    held: Held,
    *,
    nonce: str | None = None,
    aud: str | None = None,
    iat: int | None = None,
    paths: list[tuple[Any, ...]] | None = None,
    mutate: Callable[[str], str] | None = None,
) -> tuple[str, dict[str, str]]:
    """The wallet's ``direct_post`` for ``created``: the response path and the form."""
    request = fetch(env, created)
    query = request.request.query.credentials[0]
    chosen = paths or list(dcql.disclosure_paths(query, held.claims))
    binding = sd_jwt.KeyBindingRequest(
        signer=held.signer,
        nonce=nonce or request.request.nonce,
        audience=aud or request.request.client_id,
        iat=iat,
    )
    vp = sd_jwt.present(held.raw, chosen, key_binding=binding)
    vp = mutate(vp) if mutate else vp
    form = {"vp_token": json.dumps({query.id: [vp]}), "state": request.request.state or ""}
    return urlsplit(request.request.response_uri).path, form


def result(env: Env, rp: service.Registered, created: dict[str, Any]) -> Any:
    return env.client.get(f"/verification/requests/{created['id']}/result", auth=env.auth(rp))


def rejected(
    env: Env, rp: service.Registered, created: dict[str, Any], response: Any, code: str
) -> None:
    assert response.status_code >= 400, response.text
    assert response.json()["code"] == code, response.text
    body = result(env, rp, created).json()
    assert body["outcome"] == "rejected"
    assert body["error"]["code"] == code
    assert "credentials" not in body
    assert body["checks"][-1] == {**body["checks"][-1], "ok": False, "code": code}
