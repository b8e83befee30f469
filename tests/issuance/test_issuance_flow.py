"""The pre-authorized flow end to end over HTTP with real issuer keys, both backends."""

from __future__ import annotations

from typing import Any

from issuance_helpers import BASE_URL, PRE_AUTH, Holder, TestClient, identity_check, married_couple

from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.trust import IssuerKey, single_issuer
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.runtime import Runtime
from elicense.status.check import check_status
from elicense.status.token_status_list import Status


def offer_for(
    runtime: Runtime, client: TestClient, *, tx_code: bool = False, types: list[str] | None = None
) -> tuple[dict[str, Any], tuple[str, str, str]]:
    with runtime.db.transaction() as session:
        a, b, marriage_id = married_couple(session, runtime.sealer)
        vid = identity_check(session, runtime.sealer, a.id)
    body = {
        "verified_identity_id": vid,
        "credential_configuration_ids": types or ["marriage_license"],
        "tx_code": tx_code,
    }
    response = client.post("/issuance/offers", json=body)
    assert response.status_code == 201, response.text
    return response.json(), (a.id, b.id, marriage_id)


def fetch_credentials(
    holder: Holder, offer: dict[str, Any], n: int = 1, tx_code: str | None = None
) -> tuple[list[str], dict[str, Any]]:
    token = holder.token(offer, tx_code)
    nonce = holder.nonce()
    body = {
        "credential_configuration_id": "marriage_license",
        "proofs": {"jwt": [holder.proof(nonce) for _ in range(n)]},
    }
    response = holder.credential_response(token, body)
    assert response.status_code == 200, response.text
    document = response.json()
    return [c["credential"] for c in document["credentials"]], document


def trust_from(client: TestClient) -> Any:
    jwks = client.get("/.well-known/jwks.json").json()["keys"]
    return single_issuer(BASE_URL, jwks, algs=["ES256"])


def status_keys(client: TestClient) -> list[IssuerKey]:
    return [
        IssuerKey(key=load_public_jwk(k))
        for k in client.get("/.well-known/jwks.json").json()["keys"]
    ]


def test_metadata_documents(client: TestClient) -> None:
    issuer = client.get("/.well-known/openid-credential-issuer").json()
    assert issuer["credential_issuer"] == BASE_URL
    assert issuer["nonce_endpoint"] == BASE_URL + "/issuance/nonce"
    config = issuer["credential_configurations_supported"]["marriage_license"]
    assert config["format"] == "dc+sd-jwt"
    assert config["vct"] == BASE_URL + "/vct/marriage_license"
    assert config["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"] == [
        "ES256",
        "EdDSA",
    ]
    assert {d["locale"] for d in config["credential_metadata"]["display"]} == {"zh-CN", "en"}
    assert set(issuer["credential_configurations_supported"]) == {
        "health_card",
        "marriage_license",
        "resident_id",
        "travel_pass",
    }
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["token_endpoint"] == BASE_URL + "/issuance/token"
    assert PRE_AUTH in server["grant_types_supported"]
    assert "ES256" in server["dpop_signing_alg_values_supported"]
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 4
    assert all(k["use"] == "sig" and "d" not in k for k in jwks["keys"])


def test_full_flow_batch_verifies_and_is_valid(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    offer, (_holder_id, _spouse_id, _) = offer_for(runtime, client)
    assert offer["deep_link"].startswith(
        "openid-credential-offer://?credential_offer_uri=https%3A%2F%2F"
    )
    assert (
        client.get(offer["credential_offer_uri"].removeprefix(BASE_URL)).json()
        == offer["credential_offer"]
    )
    credentials, document = fetch_credentials(holder, offer["credential_offer"], n=3)
    assert len(credentials) == 3
    assert document["notification_id"].startswith("ntf_")
    trust = trust_from(client)
    verified = [verify_credential(c, trust=trust, policy=CredentialPolicy()) for c in credentials]
    claims = verified[0].claims
    assert claims["holder"]["name"] == "王磊"
    assert claims["spouse"]["name"] == "李娜"
    assert claims["marital_status"] == "married"
    assert claims["iss"] == BASE_URL
    keys = {tuple(sorted(v.holder_jwk.items())) for v in verified if v.holder_jwk}
    assert len(keys) == 3
    indices = {v.status.idx for v in verified if v.status}
    assert len(indices) == 3
    disclosures = [set(c.split("~")[1:-1]) for c in credentials]
    assert not (disclosures[0] & disclosures[1])  # distinct salts
    for v in verified:
        assert v.status is not None
        token = client.get(v.status.uri.removeprefix(BASE_URL)).content
        assert (
            check_status(
                token,
                {"status_list": {"idx": v.status.idx, "uri": v.status.uri}},
                status_keys(client),
            )
            is Status.VALID
        )


def test_offer_by_reference_is_gone_after_redemption(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    offer, _ = offer_for(runtime, client)
    assert client.get(offer["qr_png_uri"].removeprefix(BASE_URL)).content.startswith(b"\x89PNG")
    holder.token(offer["credential_offer"])
    path = offer["credential_offer_uri"].removeprefix(BASE_URL)
    assert client.get(path).status_code == 404


def test_tx_code_flow(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client, tx_code=True)
    assert offer["credential_offer"]["grants"][PRE_AUTH]["tx_code"]["length"] == 6
    assert offer["tx_code"].isdigit()
    credentials, _ = fetch_credentials(holder, offer["credential_offer"], tx_code=offer["tx_code"])
    assert len(credentials) == 1


def test_notification(runtime: Runtime, client: TestClient, holder: Holder) -> None:
    offer, _ = offer_for(runtime, client)
    token = holder.token(offer["credential_offer"])
    body = {
        "credential_configuration_id": "marriage_license",
        "proofs": {"jwt": [holder.proof(holder.nonce())]},
    }
    notification_id = holder.credential_response(token, body).json()["notification_id"]
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": holder.dpop("/issuance/notification", access_token=token),
    }
    accepted = {"notification_id": notification_id, "event": "credential_accepted"}
    assert client.post("/issuance/notification", json=accepted, headers=headers).status_code == 204
    headers["DPoP"] = holder.dpop("/issuance/notification", access_token=token)
    unknown = client.post(
        "/issuance/notification",
        json={"notification_id": "ntf_x", "event": "credential_accepted"},
        headers=headers,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_notification_id"
