"""Helpers for the holder-authenticated citizen endpoints: wallets holding licenses issued
over HTTP, holder-auth JWTs (good and mutated), a registrar over HTTP, and a bank that
verifies a license through the real verifier on the same app."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from issuance_helpers import BASE_URL, TestClient, identity_check, self_signed

from elicense import clock
from elicense.crypto.keystore import Signer
from elicense.registry import service as registry
from elicense.registry.types import Role
from elicense.runtime import Runtime
from elicense.verification import service as verification
from elicense.verification.context import build_context
from elicense.verification.policy import Grant
from elicense.wallet import citizen_cli, openid4vp
from elicense.wallet import cli as wallet_cli
from elicense.wallet.offer import resolve_offer
from elicense.wallet.openid4vci import Holder
from elicense.wallet.store import StoredCredential, Wallet

REOFFERS = "/issuance/reoffers"
HISTORY = "/verification/history"
PASSWORD = "registrar password 1"
BANK_USCC = "91350100M000100Y43"
MORTGAGE = Grant(
    "marriage_license",
    frozenset({"mortgage"}),
    frozenset(
        {"marital_status", "holder.name", "holder.id_number", "spouse.name", "spouse.id_number"}
    ),
)


# --- wallets ---------------------------------------------------------------------------


def offer_link(runtime: Runtime, client: TestClient, person_id: str, types: list[str]) -> str:
    """A deep link to an offer made after an in-person identity check."""
    with runtime.db.transaction() as session:
        vid = identity_check(session, runtime.sealer, person_id)
    body = {"verified_identity_id": vid, "credential_configuration_ids": types}
    response = client.post("/issuance/offers", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["deep_link"])


def receive(
    runtime: Runtime,
    client: TestClient,
    wallet: Wallet,
    person_id: str,
    types: tuple[str, ...] = ("marriage_license",),
    copies: int = 1,
) -> list[StoredCredential]:
    """Issue to ``wallet`` over HTTP through the real OpenID4VCI holder."""
    offer = resolve_offer(offer_link(runtime, client, person_id, list(types)), client)
    return Holder(client).receive(offer, wallet, copies=copies)


@contextlib.contextmanager
def wallet_cli_over(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``elicense wallet …`` commands talk to the test app (the client stays open)."""
    monkeypatch.setattr(wallet_cli, "new_client", lambda: contextlib.nullcontext(client))
    monkeypatch.setattr(citizen_cli, "new_client", lambda: contextlib.nullcontext(client))
    monkeypatch.setenv(wallet_cli.PASSPHRASE_ENV, "citizen wallet pass")
    yield


# --- holder-auth JWTs ------------------------------------------------------------------


def nonce(client: TestClient) -> str:
    response = client.post("/issuance/nonce")
    assert response.status_code == 200, response.text
    return str(response.json()["c_nonce"])


def holder_jwt(
    client: TestClient,
    signer: Signer,
    path: str,
    *,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A holder-auth JWT for ``path`` (fresh nonce); ``claims``/``header`` override."""
    payload: dict[str, Any] = {
        "aud": BASE_URL + path,
        "iat": clock.epoch(),
        "nonce": nonce(client),
        "jti": secrets.token_urlsafe(12),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    extra = dict(header or {})
    typ = extra.pop("typ", "holder-auth+jwt")
    return self_signed(signer, typ, payload, **extra)  # type: ignore[arg-type]


def call(client: TestClient, path: str, token: str, **extra: Any) -> httpx.Response:
    response: httpx.Response = client.post(path, json={"holder_auth": token, **extra})
    return response


def as_holder(client: TestClient, signer: Signer, path: str, **extra: Any) -> dict[str, Any]:
    response = call(client, path, holder_jwt(client, signer, path), **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


# --- registry over HTTP ----------------------------------------------------------------


def registrar(runtime: Runtime, client: TestClient) -> dict[str, str]:
    with runtime.db.transaction() as session:
        registry.create_clerk(session, username="registrar", role=Role.REGISTRAR, password=PASSWORD)
    body = {"username": "registrar", "password": PASSWORD}
    response = client.post("/registry/auth/token", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def rename(client: TestClient, clerk: dict[str, str], person_id: str, zh: str, latin: str) -> None:
    body = {"name_zh": zh, "name_latin": latin}
    response = client.put(f"/registry/persons/{person_id}/name", json=body, headers=clerk)
    assert response.status_code == 200, response.text


def divorce(client: TestClient, clerk: dict[str, str], marriage_id: str) -> None:
    body = {"office_code": "HZSC"}
    response = client.post(
        f"/registry/marriages/{marriage_id}/dissolution", json=body, headers=clerk
    )
    assert response.status_code == 200, response.text


# --- a bank verifying through the real verifier ------------------------------------------


class ToApp(httpx.BaseTransport):
    """The verifier's status-list fetches go to the test app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        got = self.client.request(request.method, str(request.url), content=request.read())
        # the test client has already decoded any content coding: do not declare it again
        headers = {
            k: v for k, v in got.headers.items() if k not in ("content-encoding", "content-length")
        }
        return httpx.Response(got.status_code, headers=headers, content=got.content)


def bank(runtime: Runtime, client: TestClient) -> verification.Registered:
    """The verifier on this app (trusting our issuer keys) and a registered bank."""
    ctx = build_context(runtime, status_transport=ToApp(client))
    client.app.state.verification = ctx  # type: ignore[attr-defined]
    with runtime.db.transaction() as session:
        return verification.register_rp(
            session,
            ctx,
            name="Bank of Hangzhou",
            uscc_code=BANK_USCC,
            sector="bank",
            region="330100",
            client_host="bank.example.cn",
            grants=[MORTGAGE],
        )


def mortgage_check(client: TestClient, rp: verification.Registered, wallet: Wallet) -> Any:
    """The bank asks (preset ``mortgage``), the wallet presents; the bank's result."""
    auth = (rp.rp.id, rp.client_secret)
    created = client.post("/verification/requests", json={"preset": "mortgage"}, auth=auth)
    assert created.status_code == 201, created.text
    ctx = client.app.state.verification  # type: ignore[attr-defined]
    holdings = [openid4vp.Held(c.raw, c.vct, c.claims, wallet.signer_for(c)) for c in wallet.list()]
    response = openid4vp.present(
        created.json()["request_uri"], holdings, anchors=[ctx.ca.certificate], client=client
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/verification/requests/{created.json()['id']}/result", auth=auth)
    assert result.status_code == 200, result.text
    return result.json()
