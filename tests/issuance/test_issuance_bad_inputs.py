"""Every bad input of the issue, each named by its mutation (both backends)."""

from __future__ import annotations

from typing import Any

from issuance_helpers import PRE_AUTH, Holder, TestClient, new_key, self_signed
from test_issuance_flow import offer_for

from elicense import clock
from elicense.crypto import base64url
from elicense.runtime import Runtime


def ready(runtime: Runtime, client: TestClient, holder: Holder) -> tuple[str, dict[str, Any]]:
    offer, _ = offer_for(runtime, client)
    return holder.token(offer["credential_offer"]), offer


def body_with(*proofs: str) -> dict[str, Any]:
    return {"credential_configuration_id": "marriage_license", "proofs": {"jwt": list(proofs)}}


def assert_error(response: Any, status: int, error: str, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    if code is not None:
        assert response.json()["code"] == code


def code_of(offer: dict[str, Any]) -> str:
    return str(offer["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"])


# --- token endpoint -------------------------------------------------------------------------


def test_pre_authorized_code_reused(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    _, offer = ready(runtime, client, holder)
    assert_error(holder.token_response(code_of(offer)), 400, "invalid_grant")


def test_pre_authorized_code_expired(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client)
    with clock.shifted(11 * 60):
        response = holder.token_response(code_of(offer))
    assert_error(response, 400, "invalid_grant", "pre_authorized_code_expired")


def test_pre_authorized_code_unknown(holder: Holder) -> None:
    assert_error(holder.token_response("not-a-code"), 400, "invalid_grant")


def test_tx_code_wrong_and_missing(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client, tx_code=True)
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"
    assert_error(
        holder.token_response(code_of(offer), wrong), 400, "invalid_grant", "tx_code_invalid"
    )
    assert_error(holder.token_response(code_of(offer)), 400, "invalid_grant", "tx_code_invalid")
    assert holder.token_response(code_of(offer), offer["tx_code"]).status_code == 200


def test_tx_code_guessing_burns_the_offer(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    offer, _ = offer_for(runtime, client, tx_code=True)
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"
    for _ in range(5):
        holder.token_response(code_of(offer), wrong)
    assert_error(holder.token_response(code_of(offer), offer["tx_code"]), 400, "invalid_grant")


def test_token_wrong_grant_type(client: TestClient, holder: Holder) -> None:
    data = {"grant_type": "authorization_code", "code": "x"}
    response = client.post(
        "/issuance/token", data=data, headers={"DPoP": holder.dpop("/issuance/token")}
    )
    assert_error(response, 400, "unsupported_grant_type")


def test_token_without_dpop(runtime: Runtime, client: TestClient) -> None:
    offer, _ = offer_for(runtime, client)
    data = {"grant_type": PRE_AUTH, "pre-authorized_code": code_of(offer)}
    assert_error(
        client.post("/issuance/token", data=data), 400, "invalid_dpop_proof", "dpop_missing"
    )


def test_dpop_wrong_htu(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client)
    dpop = holder.dpop("/issuance/credential")
    assert_error(
        holder.token_response(code_of(offer), dpop=dpop), 400, "invalid_dpop_proof", "dpop_htu"
    )


def test_dpop_wrong_htm(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client)
    dpop = holder.dpop("/issuance/token", method="GET")
    assert_error(
        holder.token_response(code_of(offer), dpop=dpop), 400, "invalid_dpop_proof", "dpop_htm"
    )


def test_dpop_jti_replayed(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    dpop = holder.dpop("/issuance/credential", access_token=token)
    first = holder.credential_response(token, body_with(holder.proof(holder.nonce())), dpop=dpop)
    assert first.status_code == 200
    second = holder.credential_response(token, body_with(holder.proof(holder.nonce())), dpop=dpop)
    assert_error(second, 401, "invalid_dpop_proof", "dpop_replay")
    assert second.headers["WWW-Authenticate"].startswith("DPoP ")


def test_dpop_jti_replayed_at_the_token_endpoint_burns_no_code(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    """A DPoP proof replayed with another live code is refused, and that code stays
    unredeemed (the redemption is undone with the proof id's insert)."""
    first, _ = offer_for(runtime, client)
    second, _ = offer_for(runtime, client)
    dpop = holder.dpop("/issuance/token")
    assert holder.token_response(code_of(first), dpop=dpop).status_code == 200
    replayed = holder.token_response(code_of(second), dpop=dpop)
    assert_error(replayed, 400, "invalid_dpop_proof", "dpop_replay")
    assert holder.token_response(code_of(second)).status_code == 200  # a fresh proof


def test_dpop_key_not_matching_token(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    dpop = holder.dpop("/issuance/credential", access_token=token, key=new_key())
    response = holder.credential_response(token, body_with(holder.proof(holder.nonce())), dpop=dpop)
    assert_error(response, 401, "invalid_token", "dpop_key_mismatch")


def test_dpop_alg_none(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client)
    assert_error(
        holder.token_response(code_of(offer), dpop=alg_none(holder.dpop("/issuance/token"))),
        400,
        "invalid_dpop_proof",
    )


def test_access_token_as_bearer_is_refused(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    token, _ = ready(runtime, client, holder)
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/issuance/credential", json=body_with(holder.proof(holder.nonce())), headers=headers
    )
    assert_error(response, 401, "invalid_token", "dpop_token_required")


def test_access_token_in_query_string(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    response = holder.credential_response(
        token,
        body_with(holder.proof(holder.nonce())),
        url=f"/issuance/credential?access_token={token}",
    )
    assert_error(response, 401, "invalid_token", "access_token_in_query")


def test_access_token_unknown(holder: Holder) -> None:
    response = holder.credential_response("made-up", body_with(holder.proof(holder.nonce())))
    assert_error(response, 401, "invalid_token", "access_token_invalid")


# --- key proofs --------------------------------------------------------------------------------


def test_nonce_reused(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    nonce = holder.nonce()
    assert holder.credential_response(token, body_with(holder.proof(nonce))).status_code == 200
    token2, _ = ready(runtime, client, holder)
    assert_error(
        holder.credential_response(token2, body_with(holder.proof(nonce))), 400, "invalid_nonce"
    )


def test_nonce_missing(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    response = holder.credential_response(token, body_with(holder.proof(None)))
    assert_error(response, 400, "invalid_proof", "proof_nonce_missing")


def test_nonce_unknown_or_expired(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    assert_error(
        holder.credential_response(token, body_with(holder.proof("made-up"))), 400, "invalid_nonce"
    )
    nonce = holder.nonce()
    with clock.shifted(6 * 60):
        stale = holder.credential_response(token, body_with(holder.proof(nonce)))
    assert_error(stale, 400, "invalid_nonce")


def test_proof_signed_by_another_key_than_its_jwk(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    token, _ = ready(runtime, client, holder)
    claims = {"aud": holder.base_url, "iat": clock.epoch(), "nonce": holder.nonce()}
    forged = self_signed(new_key(), "openid4vci-proof+jwt", claims, jwk=new_key().public_jwk)
    assert_error(
        holder.credential_response(token, body_with(forged)),
        400,
        "invalid_proof",
        "invalid_proof_signature",
    )


def test_proof_wrong_aud(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    proof = holder.proof(holder.nonce(), aud="https://evil.example")
    assert_error(
        holder.credential_response(token, body_with(proof)), 400, "invalid_proof", "proof_aud"
    )


def test_proof_stale_iat(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    proof = holder.proof(holder.nonce(), iat=clock.epoch() - 3600)
    assert_error(
        holder.credential_response(token, body_with(proof)), 400, "invalid_proof", "proof_iat"
    )


def alg_none(token: str) -> str:
    header_b64, payload_b64, _ = token.split(".")
    header = base64url.decode(header_b64).replace(b'"ES256"', b'"none"')
    return f"{base64url.encode(header)}.{payload_b64}."


def test_proof_alg_none(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    proof = alg_none(holder.proof(holder.nonce()))
    assert_error(holder.credential_response(token, body_with(proof)), 400, "invalid_proof")


def test_proof_wrong_typ(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    claims = {"aud": holder.base_url, "iat": clock.epoch(), "nonce": holder.nonce()}
    proof = self_signed(new_key(), "JWT", claims)
    assert_error(
        holder.credential_response(token, body_with(proof)),
        400,
        "invalid_proof",
        "invalid_proof_typ",
    )


def test_duplicate_proof_keys_in_batch(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    token, _ = ready(runtime, client, holder)
    key, nonce = new_key(), holder.nonce()
    body = body_with(holder.proof(nonce, key=key), holder.proof(nonce, key=key))
    assert_error(
        holder.credential_response(token, body), 400, "invalid_proof", "proof_duplicate_key"
    )


def test_unknown_credential_configuration(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    token, _ = ready(runtime, client, holder)
    body = {
        **body_with(holder.proof(holder.nonce())),
        "credential_configuration_id": "driving_licence",
    }
    assert_error(holder.credential_response(token, body), 400, "unknown_credential_configuration")


def test_configuration_not_offered(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    body = {**body_with(holder.proof(holder.nonce())), "credential_configuration_id": "resident_id"}
    assert_error(holder.credential_response(token, body), 400, "unknown_credential_configuration")


def test_offer_for_unknown_configuration(client: TestClient) -> None:
    body = {"verified_identity_id": "vid_x", "credential_configuration_ids": ["driving_licence"]}
    assert_error(
        client.post("/issuance/offers", json=body), 400, "unknown_credential_configuration"
    )


def test_batch_too_large(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    token, _ = ready(runtime, client, holder)
    nonce = holder.nonce()
    body = body_with(*(holder.proof(nonce) for _ in range(11)))
    assert_error(
        holder.credential_response(token, body),
        400,
        "invalid_credential_request",
        "batch_too_large",
    )


# --- retries -------------------------------------------------------------------------------------


def test_retry_after_network_failure_returns_same_credentials(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    from elicense.crypto.trust import single_issuer
    from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential

    token, _ = ready(runtime, client, holder)
    nonce = holder.nonce()
    body = body_with(holder.proof(nonce), holder.proof(nonce))
    first = holder.credential_response(token, body)
    again = holder.credential_response(token, body)  # the response was lost; same request
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["notification_id"] == again.json()["notification_id"]
    trust = single_issuer(holder.base_url, client.get("/.well-known/jwks.json").json()["keys"])

    def statuses(document: dict[str, Any]) -> list[tuple[int, str]]:
        out = []
        for item in document["credentials"]:
            status = verify_credential(
                item["credential"], trust=trust, policy=CredentialPolicy()
            ).status
            assert status is not None
            out.append((status.idx, status.uri))
        return out

    assert statuses(first.json()) == statuses(again.json())
    from elicense.issuance import service as issuance

    with runtime.db.transaction() as session:
        from sqlalchemy import func, select

        from elicense.issuance.models import IssuedCredential

        assert session.scalar(select(func.count()).select_from(IssuedCredential)) == 2
        assert issuance.request_hash(body)
    # A different request with the used nonce is still refused.
    other = body_with(holder.proof(nonce))
    assert_error(holder.credential_response(token, other), 400, "invalid_nonce")
