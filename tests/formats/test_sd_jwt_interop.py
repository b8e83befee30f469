"""Interoperability, both ways, with the IETF reference implementation (``sd-jwt``)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "sd_jwt.issuer", reason="the sd-jwt reference implementation is a dev dependency"
)

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from elicense import clock
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList
from elicense.formats import sd_jwt, sd_jwt_vc

ISSUER = "https://civil-affairs.example.gov.cn"
VCT = "https://credentials.example.gov.cn/marriage_license"
NONCE, AUD = "interop-nonce-1", "https://verifier.example"


def _jwk(signer: LocalSigner) -> JWK:
    return JWK.from_pyca(signer.private_key)


def _reference_issue(issuer: LocalSigner, holder: LocalSigner, claims: dict[str, Any]) -> str:
    user_claims: dict[Any, Any] = {"iss": ISSUER, "vct": VCT, "iat": clock.epoch()}
    user_claims["exp"] = clock.epoch() + 3600
    for key, value in claims.items():
        user_claims[SDObj(key) if key != "license_number" else key] = value
    user_claims[SDObj("children")] = [SDObj({"name": "A"}), {"name": "B"}]
    issuer_ref = SDJWTIssuer(
        user_claims,
        _jwk(issuer),
        holder_key=_jwk(holder),
        sign_alg="ES256",
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": issuer.kid},
    )
    return str(issuer_ref.sd_jwt_issuance)


def _our_issue(
    issuer: LocalSigner, holder: LocalSigner, claims: dict[str, Any], decoys: int = 2
) -> str:
    return sd_jwt_vc.issue_credential(
        signer=issuer,
        issuer=ISSUER,
        vct=VCT,
        claims={**claims, "children": [{"name": "A"}, {"name": "B"}]},
        selectively_disclosable=[(k,) for k in claims if k != "license_number"]
        + [("children",), ("children", 0)],
        holder_jwk=holder.public_jwk,
        expires_at=clock.epoch() + 3600,
        decoys=decoys,
    ).serialize()


def _reference_present(token: str, holder: LocalSigner) -> str:
    ref = SDJWTHolder(token)
    ref.create_presentation(
        {"given_name": True, "marriage_date": True, "children": [True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=_jwk(holder),
        sign_alg="ES256",
    )
    return str(ref.sd_jwt_presentation)


def _our_present(token: str, holder: LocalSigner) -> str:
    request = sd_jwt.KeyBindingRequest(holder, nonce=NONCE, audience=AUD)
    return sd_jwt.present(
        token, [("given_name",), ("marriage_date",), ("children", 0)], key_binding=request
    )


def _our_verify(presentation: str, trust: TrustList) -> dict[str, Any]:
    binding = sd_jwt.KeyBindingPolicy(nonce=NONCE, audience=AUD)
    policy = sd_jwt_vc.CredentialPolicy(key_binding=binding)
    return dict(sd_jwt_vc.verify_credential(presentation, trust=trust, policy=policy).claims)


def _reference_verify(presentation: str, issuer: LocalSigner) -> dict[str, Any]:
    key = JWK(**issuer.public_jwk)
    ref = SDJWTVerifier(
        presentation, lambda _iss, _header: key, expected_aud=AUD, expected_nonce=NONCE
    )
    return dict(ref.get_verified_payload())


EXPECTED = {
    "given_name": "李",
    "marriage_date": "2025-10-01",
    "children": [{"name": "A"}, {"name": "B"}],
}


@pytest.mark.parametrize("issuer_impl", ["ours", "reference"])
@pytest.mark.parametrize("holder_impl", ["ours", "reference"])
@pytest.mark.parametrize("verifier_impl", ["ours", "reference"])
def test_every_combination_of_implementations_agrees(
    issuer_impl: str,
    holder_impl: str,
    verifier_impl: str,
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    issue = _our_issue if issuer_impl == "ours" else _reference_issue
    present = _our_present if holder_impl == "ours" else _reference_present
    if issuer_impl == "ours" and holder_impl == "reference":
        # The reference holder counts array positions including decoy digests, so a
        # decoy placed before "A" would shift its [True]; issue without decoys for it.
        token = _our_issue(issuer_signer, holder_signer, license_claims, decoys=0)
    else:
        token = issue(issuer_signer, holder_signer, license_claims)
    presentation = present(token, holder_signer)
    if verifier_impl == "ours":
        claims = _our_verify(presentation, trust)
    else:
        claims = _reference_verify(presentation, issuer_signer)
    disclosed = {k: v for k, v in claims.items() if k in EXPECTED}
    assert disclosed == EXPECTED
    assert claims["iss"] == ISSUER
    assert claims["vct"] == VCT
    assert claims["cnf"]["jwk"]["x"] == holder_signer.public_jwk["x"]
    assert "family_name" not in claims
