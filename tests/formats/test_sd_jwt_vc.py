"""SD-JWT VC issuance and verification of a marriage license."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from elicense import clock
from elicense.crypto import x509 as chain
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import InvalidToken, KeyBindingError, ValidationFailed
from elicense.formats import sd_jwt, sd_jwt_vc

NOW = 1767225600
ISSUER = "https://civil-affairs.example.gov.cn"
VCT = "https://credentials.example.gov.cn/marriage_license"


def _issue(
    issuer: LocalSigner, holder: LocalSigner | None, claims: dict[str, Any], **kw: Any
) -> str:
    with clock.frozen(NOW):
        issued = sd_jwt_vc.issue_credential(
            signer=issuer,
            issuer=ISSUER,
            vct=VCT,
            claims=claims,
            selectively_disclosable=[(k,) for k in claims if k != "license_number"],
            holder_jwk=None if holder is None else holder.public_jwk,
            expires_at=NOW + 86400,
            **kw,
        )
    return issued.serialize()


def _verify(token: str, trust: TrustList, **policy: Any) -> sd_jwt_vc.VerifiedCredential:
    with clock.frozen(NOW + 60):
        return sd_jwt_vc.verify_credential(
            token, trust=trust, policy=sd_jwt_vc.CredentialPolicy(**policy)
        )


def test_issue_present_verify_marriage_license(
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    status = sd_jwt_vc.StatusReference("https://status.example.gov.cn/lists/7", 1234)
    token = _issue(issuer_signer, holder_signer, license_claims, status=status, decoys=3)
    with clock.frozen(NOW + 30):
        request = sd_jwt.KeyBindingRequest(
            holder_signer, nonce="n-1", audience="https://bank.example"
        )
        presentation = sd_jwt.present(
            token, [("given_name",), ("family_name",), ("marriage_date",)], key_binding=request
        )
    binding = sd_jwt.KeyBindingPolicy(nonce="n-1", audience="https://bank.example")
    verified = _verify(presentation, trust, key_binding=binding)
    assert verified.issuer == ISSUER
    assert verified.vct == VCT
    assert verified.subject_claims() == {
        "license_number": "ML-2025-000123",
        "given_name": "李",
        "family_name": "伟",
        "marriage_date": "2025-10-01",
    }
    assert verified.status == status
    assert verified.holder_jwk == holder_signer.public_jwk
    assert verified.expires_at == NOW + 86400
    assert verified.key_binding is not None
    assert verified.checks == (
        "size_limits", "issuer_key_trusted", "issuer_signature", "disclosures",
        "validity_period", "key_binding", "vc_rules",
    )  # fmt: skip


def test_header_is_dc_sd_jwt_with_kid(
    issuer_signer: LocalSigner, license_claims: dict[str, Any]
) -> None:
    token = _issue(issuer_signer, None, license_claims)
    header = sd_jwt.split(token).issuer_jwt.header
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": issuer_signer.kid}


def test_x5c_issued_credential_verifies_against_the_ca_anchor(
    license_claims: dict[str, Any],
) -> None:
    with clock.frozen(NOW - 60):
        ca_key, ca_cert = chain.create_issuing_ca("Civil Affairs CA")
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = chain.issue_document_signer(ca_key, ca_cert, key.public_key(), issuer_url=ISSUER)
    signer = LocalSigner(key, x5c=chain.to_x5c([leaf, ca_cert]))
    token = _issue(signer, signer, license_claims, include_x5c=True)
    assert "x5c" in sd_jwt.split(token).issuer_jwt.header
    anchored = single_issuer(ISSUER, [], [ca_cert])
    assert _verify(token, anchored).issuer == ISSUER


def test_holder_key_is_required_by_default(
    issuer_signer: LocalSigner, trust: TrustList, license_claims: dict[str, Any]
) -> None:
    token = _issue(issuer_signer, None, license_claims)
    with pytest.raises(InvalidToken) as caught:
        _verify(token, trust)
    assert caught.value.instance_code == "vc_missing_cnf"
    assert _verify(token, trust, unsafe_allow_unbound=True).holder_jwk is None


def test_key_binding_required_without_holder_key_fails(
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    token = _issue(issuer_signer, None, license_claims)
    with clock.frozen(NOW):
        bound = sd_jwt.present(
            token, [], key_binding=sd_jwt.KeyBindingRequest(holder_signer, "n", "a")
        )
    with pytest.raises(KeyBindingError) as caught:
        _verify(
            bound, trust, key_binding=sd_jwt.KeyBindingPolicy("n", "a"), unsafe_allow_unbound=True
        )
    assert caught.value.instance_code == "kb_no_holder_key"


def test_unaccepted_credential_type_is_refused(
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    token = _issue(issuer_signer, holder_signer, license_claims)
    with pytest.raises(InvalidToken) as caught:
        _verify(token, trust, accepted_vcts=frozenset({"https://other/vct"}))
    assert caught.value.instance_code == "vc_type_not_accepted"


@pytest.mark.parametrize("name", sorted(sd_jwt_vc.NEVER_DISCLOSABLE))
def test_registered_claims_can_be_neither_set_nor_hidden(
    name: str, issuer_signer: LocalSigner, license_claims: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed):
        _issue(issuer_signer, None, {**license_claims, name: 1})
    with pytest.raises(ValidationFailed):
        sd_jwt_vc.issue_credential(
            signer=issuer_signer,
            issuer=ISSUER,
            vct=VCT,
            claims=license_claims,
            selectively_disclosable=[(name,)],
            holder_jwk=None,
            expires_at=NOW,
        )


def test_malformed_status_reference_is_refused(
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    bad = sd_jwt_vc.StatusReference("https://status.example", -1)
    token = _issue(issuer_signer, holder_signer, license_claims, status=bad)
    with pytest.raises(InvalidToken) as caught:
        _verify(token, trust)
    assert caught.value.instance_code == "vc_bad_status"


def test_verified_credential_cannot_be_forged_by_construction() -> None:
    with pytest.raises(TypeError):
        sd_jwt_vc.VerifiedCredential(
            issuer=ISSUER, vct=VCT, claims={}, holder_jwk=None, status=None,
            issued_at=None, expires_at=None, key_binding=None, checks=(),
        )  # fmt: skip


def test_exp_is_required_unless_unsafely_waived(
    issuer_signer: LocalSigner, holder_signer: LocalSigner, trust: TrustList
) -> None:
    with clock.frozen(NOW):
        token = sd_jwt.issue(
            {"iss": ISSUER, "vct": VCT, "cnf": {"jwk": holder_signer.public_jwk}, "name": "x"},
            signer=issuer_signer,
            header={"typ": sd_jwt_vc.TYP},
        ).serialize()
    with pytest.raises(InvalidToken) as caught:
        _verify(token, trust)
    assert caught.value.instance_code == "missing_exp"
    assert _verify(token, trust, unsafe_allow_no_exp=True).expires_at is None


def test_nothing_under_cnf_or_status_may_be_disclosed(
    issuer_signer: LocalSigner, holder_signer: LocalSigner, trust: TrustList
) -> None:
    claims = {
        "iss": ISSUER,
        "vct": VCT,
        "exp": NOW + 3600,
        "cnf": {"jwk": holder_signer.public_jwk},
        "status": {"status_list": {"idx": 1, "uri": "https://status.example"}},
    }
    for path in [("cnf", "jwk"), ("status", "status_list")]:
        with clock.frozen(NOW):
            token = sd_jwt.issue(
                claims,
                signer=issuer_signer,
                selectively_disclosable=[path],
                header={"typ": sd_jwt_vc.TYP},
            ).serialize()
        with pytest.raises(InvalidToken) as caught:
            _verify(token, trust)
        assert caught.value.instance_code == "vc_claim_disclosed", path


def test_non_ascii_sd_hash_is_a_key_binding_error(
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> None:
    import json

    from elicense.crypto import jws

    token = _issue(issuer_signer, holder_signer, license_claims)
    payload = {"iat": NOW, "aud": "a", "nonce": "n", "sd_hash": "ハッシュ"}
    kb = jws.sign_compact(
        {"typ": "kb+jwt"}, json.dumps(payload).encode(), holder_signer, add_kid=False
    )
    with pytest.raises(KeyBindingError) as caught:
        _verify(token + kb, trust, key_binding=sd_jwt.KeyBindingPolicy("n", "a"))
    assert caught.value.instance_code == "kb_jwt_wrong_sd_hash"
