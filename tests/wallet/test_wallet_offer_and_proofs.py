"""Offer parsing (by value, by reference, bad offers), DPoP and key proofs, presentations."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from elicense import clock
from elicense.crypto import _json, jws
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import single_issuer
from elicense.errors import KeyBindingError
from elicense.formats import sd_jwt, sd_jwt_vc
from elicense.wallet import dpop
from elicense.wallet.errors import IssuerUnreachable, OfferInvalid
from elicense.wallet.offer import PRE_AUTHORIZED_GRANT, UrlPolicy, resolve_offer, split_offer
from elicense.wallet.openid4vci import credential_display, well_known
from elicense.wallet.presentations import build_presentation
from elicense.wallet.store import HolderKey, StoredCredential, Wallet, new_credential_id

ISS = "https://issuer.example.gov.cn"
OFFER: dict[str, Any] = {
    "credential_issuer": ISS,
    "credential_configuration_ids": ["marriage_license"],
    "grants": {
        PRE_AUTHORIZED_GRANT: {
            "pre-authorized_code": "code-123",
            "tx_code": {"input_mode": "numeric", "length": 6, "description": "SMS"},
        }
    },
}


def _no_network() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_offer_by_value_deep_link() -> None:
    link = "openid-credential-offer://?credential_offer=" + quote(json.dumps(OFFER))
    offer = resolve_offer(link, _no_network())
    assert offer.credential_issuer == ISS
    assert offer.credential_configuration_ids == ("marriage_license",)
    assert offer.pre_authorized_code == "code-123"
    assert offer.tx_code is not None
    assert offer.tx_code.length == 6
    assert "code-123" not in repr(offer)


def test_offer_by_value_https_link_and_bare_json() -> None:
    link = f"{ISS}/offer?credential_offer=" + quote(json.dumps(OFFER))
    assert resolve_offer(link, _no_network()).pre_authorized_code == "code-123"
    assert resolve_offer(json.dumps(OFFER), _no_network()).credential_issuer == ISS


def test_offer_by_reference_is_fetched() -> None:
    seen: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=OFFER)

    client = httpx.Client(transport=httpx.MockTransport(serve))
    uri = f"{ISS}/issuance/offers/off_1"
    offer = resolve_offer(f"openid-credential-offer://?credential_offer_uri={quote(uri)}", client)
    assert offer.pre_authorized_code == "code-123"
    assert seen == [uri]


def test_offer_by_reference_gone_is_an_issuer_error() -> None:
    def gone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"code": "offer_not_found", "detail": "used"})

    client = httpx.Client(transport=httpx.MockTransport(gone))
    link = "openid-credential-offer://?credential_offer_uri=" + quote(f"{ISS}/o/1")
    with pytest.raises(Exception, match="offer_not_found") as info:
        resolve_offer(link, client)
    assert getattr(info.value, "instance_code", None) == "offer_not_found"


def test_offer_by_reference_network_failure() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(down))
    link = "openid-credential-offer://?credential_offer_uri=" + quote(f"{ISS}/o/1")
    with pytest.raises(IssuerUnreachable):
        resolve_offer(link, client)


def _with(**changes: Any) -> str:
    offer = {**OFFER, **changes}
    return "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("mailto:someone@example.com", "offer_malformed"),
        ("openid-credential-offer://?nothing=1", "offer_malformed"),
        (
            "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fa",
            "offer_malformed",
        ),
        ("openid-credential-offer://?credential_offer=not-json", "offer_malformed"),
        ("openid-credential-offer://?credential_offer=%5B1%5D", "offer_malformed"),
        (
            "openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fevil.example%2Fo",
            "offer_bad_url",
        ),
        (_with(credential_issuer="http://issuer.example.gov.cn"), "offer_bad_url"),
        (_with(credential_issuer=None), "offer_malformed"),
        (_with(credential_configuration_ids=[]), "offer_malformed"),
        (_with(credential_configuration_ids="marriage_license"), "offer_malformed"),
        (_with(grants={"authorization_code": {}}), "offer_unsupported_grant"),
        (_with(grants={PRE_AUTHORIZED_GRANT: {}}), "offer_malformed"),
        (
            _with(
                grants={
                    PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c", "tx_code": {"length": 0}}
                }
            ),
            "offer_malformed",
        ),
        ("x" * 20_000, "offer_too_large"),
    ],
    ids=[
        "wrong_scheme",
        "no_offer_parameter",
        "both_value_and_reference",
        "value_not_json",
        "value_not_object",
        "reference_plain_http",
        "issuer_plain_http",
        "issuer_missing",
        "configurations_empty",
        "configurations_not_list",
        "authorization_code_only",
        "pre_authorized_code_missing",
        "tx_code_length_zero",
        "too_long",
    ],
)
def test_bad_offers_are_refused(text: str, code: str) -> None:
    with pytest.raises(OfferInvalid) as info:
        resolve_offer(text, _no_network())
    assert info.value.instance_code == code


def test_loopback_http_is_allowed_only_by_policy() -> None:
    link = _with(credential_issuer="http://127.0.0.1:8000")
    assert resolve_offer(link, _no_network()).credential_issuer == "http://127.0.0.1:8000"
    with pytest.raises(OfferInvalid):
        resolve_offer(link, _no_network(), policy=UrlPolicy(insecure_http_hosts=frozenset()))


def test_split_offer_reference() -> None:
    assert split_offer("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fa%2Fb") == (
        None,
        "https://a/b",
    )


def test_well_known_insertion() -> None:
    assert (
        well_known(ISS, "openid-credential-issuer") == f"{ISS}/.well-known/openid-credential-issuer"
    )
    assert (
        well_known("https://a.example/tenant/1/", "oauth-authorization-server")
        == "https://a.example/.well-known/oauth-authorization-server/tenant/1"
    )


def _verified(token: str, key: HolderKey) -> tuple[dict[str, Any], dict[str, Any]]:
    decoded = jws.decode_compact(token)
    assert load_public_jwk(decoded.header["jwk"]).public_numbers() == (
        key.private_key.public_key().public_numbers()
    )
    verified = jws.verify(
        decoded, load_public_jwk(decoded.header["jwk"]), allowed_algs=frozenset({"ES256"})
    )
    return verified.header, _json.loads_object(verified.payload, what="payload")


def test_dpop_proof_is_rfc9449_shaped() -> None:
    key = HolderKey.generate()
    url = f"{ISS}/issuance/credential?x=1#frag"
    header, payload = _verified(
        dpop.dpop_proof(key.signer(), "post", url, access_token="tok", nonce="srv"), key
    )
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    assert "d" not in header["jwk"]
    assert payload["htm"] == "POST"
    assert payload["htu"] == f"{ISS}/issuance/credential"
    assert payload["ath"] == dpop.access_token_hash("tok")
    # RFC 9449 Section 7.1 example
    rfc_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert dpop.access_token_hash(rfc_token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    assert payload["nonce"] == "srv"
    assert abs(payload["iat"] - clock.epoch()) <= 2
    second = _verified(dpop.dpop_proof(key.signer(), "POST", url), key)[1]
    assert second["jti"] != payload["jti"]
    assert "ath" not in second


def test_key_proof_is_openid4vci_shaped() -> None:
    key = HolderKey.generate()
    header, payload = _verified(dpop.key_proof(key.signer(), audience=ISS, nonce="c1"), key)
    assert header["typ"] == "openid4vci-proof+jwt"
    assert "kid" not in header
    assert payload == {"aud": ISS, "iat": payload["iat"], "nonce": "c1"}


def test_credential_display_from_1_0_metadata() -> None:
    config = {
        "format": "dc+sd-jwt",
        "credential_metadata": {
            "display": [
                {"name": "结婚证", "locale": "zh-CN"},
                {"name": "Marriage License", "locale": "en"},
            ],
            "claims": [
                {"path": ["holder", "name"], "display": [{"name": "姓名", "locale": "zh-CN"}]},
                {"path": "bad"},
            ],
        },
    }
    display = credential_display(config)
    assert display.name("zh-CN") == "结婚证"
    assert display.label(("holder", "name"), "zh-CN") == "姓名"
    assert display.label(("holder", "name"), "en") == "姓名"  # falls back to what exists
    assert len(display.claims) == 1


def _issued_into_wallet() -> tuple[Wallet, StoredCredential, LocalSigner]:
    issuer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    wallet = Wallet()
    key = wallet.new_holder_key()
    claims = {"holder": {"name": "张伟", "id_number": "330106199003150010"}, "certificate_no": "J1"}
    issued = sd_jwt_vc.issue_credential(
        signer=issuer,
        issuer=ISS,
        vct=f"{ISS}/vct/marriage_license",
        claims=claims,
        selectively_disclosable=[("holder", "name"), ("holder", "id_number"), ("certificate_no",)],
        holder_jwk=key.public_jwk,
        expires_at=clock.epoch() + 3600,
    )
    stored = StoredCredential(
        id=new_credential_id(),
        format="dc+sd-jwt",
        raw=issued.serialize(),
        issuer=ISS,
        vct=f"{ISS}/vct/marriage_license",
        configuration_id="marriage_license",
        holder_kid=key.kid,
        received_at=clock.epoch(),
        claims=claims,
        display=credential_display({}),
    )
    wallet.add(stored)
    return wallet, stored, issuer


def test_presentation_discloses_only_the_asked_claims_and_is_bound() -> None:
    wallet, stored, issuer = _issued_into_wallet()
    token = build_presentation(
        wallet, stored.id, [["holder", "name"]], nonce="n-1", audience="https://bank.example"
    )
    trust = single_issuer(ISS, [issuer.public_jwk])
    policy = sd_jwt_vc.CredentialPolicy(
        key_binding=sd_jwt.KeyBindingPolicy(nonce="n-1", audience="https://bank.example")
    )
    verified = sd_jwt_vc.verify_credential(token, trust=trust, policy=policy)
    assert verified.subject_claims() == {"holder": {"name": "张伟"}}
    assert verified.key_binding is not None

    wrong = sd_jwt_vc.CredentialPolicy(
        key_binding=sd_jwt.KeyBindingPolicy(nonce="other", audience="https://bank.example")
    )
    with pytest.raises(KeyBindingError):
        sd_jwt_vc.verify_credential(token, trust=trust, policy=wrong)
