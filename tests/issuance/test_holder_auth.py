"""Holder authentication (``holder-auth+jwt``) at both citizen endpoints: the good case and
every refusal, each a clear OAuth-style error (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from citizen_helpers import HISTORY, REOFFERS, as_holder, call, holder_jwt, nonce, receive
from issuance_helpers import BASE_URL, Holder, TestClient, identity_check, married_couple, new_key

from elicense import clock
from elicense.crypto import _json, base64url, jws
from elicense.crypto.keystore import Signer
from elicense.issuance import holder_auth
from elicense.runtime import Runtime
from elicense.wallet.store import Wallet

PATHS = [pytest.param(REOFFERS, id="reoffers"), pytest.param(HISTORY, id="history")]


@pytest.fixture
def signer(runtime: Runtime, client: TestClient) -> Signer:
    """The holder key of a marriage license issued to a wallet over HTTP."""
    with runtime.db.transaction() as session:
        a, _b, _m = married_couple(session, runtime.sealer)
    wallet = Wallet()
    [credential] = receive(runtime, client, wallet, a.id)
    return wallet.signer_for(credential)


def refused(response: Any, code: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert (body["error"], body["code"]) == ("invalid_token", code), body
    assert body["error_description"]
    assert response.headers["www-authenticate"] == 'HolderAuth error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"


def test_a_bound_key_authenticates_at_both_endpoints(client: TestClient, signer: Signer) -> None:
    assert as_holder(client, signer, REOFFERS) == {"offers": []}
    assert as_holder(client, signer, HISTORY) == {"holder_keys": [signer.kid], "entries": []}


@pytest.mark.parametrize("path", PATHS)
def test_alg_none(client: TestClient, signer: Signer, path: str) -> None:
    header = {"alg": "none", "typ": "holder-auth+jwt", "jwk": dict(signer.public_jwk)}
    claims = json.loads(jws.decode_compact(holder_jwt(client, signer, path)).payload)
    token = f"{base64url.encode(_json.dumps(header))}.{base64url.encode(_json.dumps(claims))}."
    refused(call(client, path, token), "holder_auth_alg")


def test_hmac_alg(client: TestClient, signer: Signer) -> None:
    good = holder_jwt(client, signer, REOFFERS)
    _header, payload, signature = good.split(".")
    header = {"alg": "HS256", "typ": "holder-auth+jwt", "jwk": dict(signer.public_jwk)}
    token = f"{base64url.encode(_json.dumps(header))}.{payload}.{signature}"
    refused(call(client, REOFFERS, token), "holder_auth_alg")


@pytest.mark.parametrize("path", PATHS)
def test_wrong_aud(client: TestClient, signer: Signer, path: str) -> None:
    refused(call(client, path, holder_jwt(client, signer, path, aud=BASE_URL)), "holder_auth_aud")


def test_a_token_for_one_endpoint_is_refused_at_the_other(
    client: TestClient, signer: Signer
) -> None:
    refused(call(client, HISTORY, holder_jwt(client, signer, REOFFERS)), "holder_auth_aud")
    refused(call(client, REOFFERS, holder_jwt(client, signer, HISTORY)), "holder_auth_aud")
    other_host = "https://evil.example" + REOFFERS
    refused(
        call(client, REOFFERS, holder_jwt(client, signer, "", aud=other_host)), "holder_auth_aud"
    )


@pytest.mark.parametrize(
    "skew", [-(holder_auth.MAX_SKEW_SECONDS + 30), holder_auth.MAX_SKEW_SECONDS + 30]
)
@pytest.mark.parametrize("path", PATHS)
def test_stale_or_future_iat(client: TestClient, signer: Signer, path: str, skew: int) -> None:
    token = holder_jwt(client, signer, path, iat=clock.epoch() + skew)
    refused(call(client, path, token), "holder_auth_iat")


def test_iat_must_be_an_integer(client: TestClient, signer: Signer) -> None:
    refused(
        call(client, REOFFERS, holder_jwt(client, signer, REOFFERS, iat="now")), "holder_auth_iat"
    )


@pytest.mark.parametrize("path", PATHS)
def test_reused_nonce(client: TestClient, signer: Signer, path: str) -> None:
    used = nonce(client)
    first = holder_jwt(client, signer, path, nonce=used)
    assert call(client, path, first).status_code == 200
    refused(call(client, path, first), "holder_auth_nonce")  # the same JWT again
    refused(call(client, path, holder_jwt(client, signer, path, nonce=used)), "holder_auth_nonce")


def test_unknown_or_missing_nonce(client: TestClient, signer: Signer) -> None:
    refused(
        call(client, REOFFERS, holder_jwt(client, signer, REOFFERS, nonce="made-up")),
        "holder_auth_nonce",
    )
    token = holder_jwt(client, signer, REOFFERS, nonce=None)
    refused(call(client, REOFFERS, token), "holder_auth_nonce")


@pytest.mark.parametrize("path", PATHS)
def test_key_never_bound_to_our_credentials(client: TestClient, signer: Signer, path: str) -> None:
    refused(call(client, path, holder_jwt(client, new_key(), path)), "holder_auth_unknown_key")


def test_failed_authentication_leaves_the_nonce_unused(client: TestClient, signer: Signer) -> None:
    fresh = nonce(client)
    refused(
        call(client, REOFFERS, holder_jwt(client, new_key(), REOFFERS, nonce=fresh)),
        "holder_auth_unknown_key",
    )
    assert (
        call(client, REOFFERS, holder_jwt(client, signer, REOFFERS, nonce=fresh)).status_code == 200
    )


@pytest.mark.parametrize("path", PATHS)
def test_bad_signature(client: TestClient, signer: Signer, path: str) -> None:
    header, payload, _ = holder_jwt(client, signer, path).split(".")
    forged = jws.sign_compact({"typ": "x"}, b"{}", new_key()).split(".")[2]
    refused(call(client, path, f"{header}.{payload}.{forged}"), "holder_auth_signature")


def test_signed_by_another_key_than_its_jwk(client: TestClient, signer: Signer) -> None:
    impostor = new_key()
    token = holder_jwt(client, impostor, REOFFERS, header={"jwk": dict(signer.public_jwk)})
    refused(call(client, REOFFERS, token), "holder_auth_signature")


def test_wrong_typ_missing_jti_kid_and_garbage(client: TestClient, signer: Signer) -> None:
    dpop_typed = holder_jwt(client, signer, REOFFERS, header={"typ": "dpop+jwt"})
    refused(call(client, REOFFERS, dpop_typed), "holder_auth_typ")
    refused(
        call(client, REOFFERS, holder_jwt(client, signer, REOFFERS, jti=None)), "holder_auth_jti"
    )
    with_kid = holder_jwt(client, signer, REOFFERS, header={"kid": signer.kid})
    refused(call(client, REOFFERS, with_kid), "holder_auth_key")
    refused(call(client, REOFFERS, "not-a-jwt"), "holder_auth_malformed")
    missing = client.post(REOFFERS, json={})
    assert missing.status_code == 422
    assert missing.json()["code"] == "validation_failed"


def test_a_key_bound_for_two_persons_is_refused_and_left_out_of_history(
    runtime: Runtime, client: TestClient, signer: Signer
) -> None:
    """A (non-conforming) wallet that binds one key to credentials of two persons cannot
    authenticate with it, and neither person's history covers that key."""
    shared, tiny = new_key(), Holder(client)
    with runtime.db.transaction() as session:
        c, d, _m = married_couple(session, runtime.sealer)
    for person in (c.id, d.id):
        token = tiny.token(_offer(runtime, client, person))
        proof = tiny.proof(tiny.nonce(), key=shared)
        body = {"credential_configuration_id": "marriage_license", "proofs": {"jwt": [proof]}}
        assert tiny.credential_response(token, body).status_code == 200
    refused(call(client, HISTORY, holder_jwt(client, shared, HISTORY)), "holder_auth_ambiguous_key")
    with runtime.db.transaction() as session:
        assert holder_auth.holder_keys(session, c.id) == ()
        assert holder_auth.holder_keys(session, d.id) == ()


def _offer(runtime: Runtime, client: TestClient, person_id: str) -> dict[str, Any]:
    with runtime.db.transaction() as session:
        vid = identity_check(session, runtime.sealer, person_id)
    body = {"verified_identity_id": vid, "credential_configuration_ids": ["marriage_license"]}
    response = client.post("/issuance/offers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["credential_offer"])
