"""RFC 9901 examples (tests/vectors/rfc9901, see its README for sections)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from elicense import clock
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.trust import IssuerKey
from elicense.errors import KeyBindingError
from elicense.formats import sd_jwt

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9901"
KEYS = json.loads((VECTORS / "appendix_a_5_keys.json").read_text())
ISSUER_KEY = IssuerKey(load_public_jwk(KEYS["issuer_public_jwk"]))
KB_IAT = 1748454271  # the iat of the Appendix A.3 KB-JWT


def _token(name: str) -> str:
    return (VECTORS / f"{name}.txt").read_text().strip()


def _verify(token: str, **policy: Any) -> sd_jwt.VerifiedSdJwt:
    with clock.frozen(KB_IAT + 30):
        return sd_jwt.verify(
            token,
            issuer_key=lambda _h, _p: ISSUER_KEY,
            policy=sd_jwt.VerificationPolicy(**policy),
        )


def test_section_5_1_all_disclosures() -> None:
    claims = _verify(_token("section_5_1_issuance")).claims
    assert claims["given_name"] == "John"
    assert claims["address"]["locality"] == "Anytown"
    assert claims["nationalities"] == ["US", "DE"]
    assert claims["phone_number_verified"] is True
    assert "_sd" not in claims
    assert "_sd_alg" not in claims


def test_section_5_2_presentation_made_by_our_holder() -> None:
    presentation = sd_jwt.present(
        _token("section_5_1_issuance"),
        [("family_name",), ("given_name",), ("address",), ("nationalities", 0)],
    )
    claims = _verify(presentation).claims
    assert claims["nationalities"] == ["US"]
    assert set(claims) == {
        "iss", "iat", "exp", "sub", "cnf", "nationalities", "family_name", "given_name", "address",
    }  # fmt: skip


def test_appendix_a_1_partial_structured_disclosure() -> None:
    claims = _verify(_token("appendix_a_1_issuance")).claims
    assert claims["address"] == {"region": "港区", "country": "JP"}


def test_appendix_a_2_deeply_nested_and_array_of_objects() -> None:
    verified = _verify(_token("appendix_a_2_issuance"))
    verification = verified.claims["verified_claims"]["verification"]
    assert verification["evidence"] == [{"method": "pipp"}]
    assert verified.claims["verified_claims"]["claims"]["family_name"] == "Müller"
    assert ("verified_claims", "verification", "evidence", 0, "method") in verified.disclosed


def test_appendix_a_3_sd_jwt_vc_with_recursive_disclosures() -> None:
    claims = _verify(_token("appendix_a_3_issuance")).claims
    assert claims["vct"] == "urn:eudi:pid:de:1"
    assert claims["age_equal_or_over"]["18"] is True
    assert claims["place_of_birth"] == {"locality": "Berlin", "country": "DE"}


def test_appendix_a_3_key_binding_presentation() -> None:
    binding = sd_jwt.KeyBindingPolicy(nonce="1234567890", audience="https://verifier.example.org")
    verified = _verify(_token("appendix_a_3_presentation_kb"), key_binding=binding)
    assert verified.claims["age_equal_or_over"] == {"18": True}
    assert verified.key_binding is not None
    assert verified.key_binding.issued_at == KB_IAT
    assert verified.checks[-1] == "key_binding"


@pytest.mark.parametrize(
    ("nonce", "aud", "code"),
    [
        ("other", "https://verifier.example.org", "kb_jwt_wrong_nonce"),
        ("1234567890", "https://other.example", "kb_jwt_wrong_aud"),
    ],
)
def test_appendix_a_3_key_binding_for_another_request_fails(
    nonce: str, aud: str, code: str
) -> None:
    binding = sd_jwt.KeyBindingPolicy(nonce=nonce, audience=aud)
    with pytest.raises(KeyBindingError) as caught:
        _verify(_token("appendix_a_3_presentation_kb"), key_binding=binding)
    assert caught.value.instance_code == code


def test_appendix_a_3_is_a_valid_sd_jwt_vc_under_a_trust_list() -> None:
    from elicense.crypto.trust import single_issuer
    from elicense.formats import sd_jwt_vc

    trust = single_issuer("https://pid-issuer.bund.de.example", [KEYS["issuer_public_jwk"]])
    binding = sd_jwt.KeyBindingPolicy(nonce="1234567890", audience="https://verifier.example.org")
    with clock.frozen(KB_IAT + 30):
        verified = sd_jwt_vc.verify_credential(
            _token("appendix_a_3_presentation_kb"),
            trust=trust,
            policy=sd_jwt_vc.CredentialPolicy(key_binding=binding),
        )
    assert verified.vct == "urn:eudi:pid:de:1"
    assert verified.subject_claims() == {"age_equal_or_over": {"18": True}, "nationalities": ["DE"]}
    assert verified.holder_jwk == KEYS["holder_public_jwk"]
