"""SD-JWT VC draft examples (tests/vectors/sd_jwt_vc, see its README for sections).

The draft publishes its example SD-JWT VC (Section 3.3) with every Disclosure and its
digest, two presentations of it (Section 4.2), and a PID credential with nested
Disclosures and a presentation (Appendix B.1). They are signed with the example
keys of RFC 9901 Appendix A.5 (issuer ``kid`` ``doc-signer-05-25-2022``, holder key in
``cnf``), so we check the digests, the processing *and* the signatures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from elicense import clock
from elicense.crypto.limits import DEFAULT_LIMITS
from elicense.crypto.trust import single_issuer
from elicense.errors import InvalidToken, KeyBindingError
from elicense.formats import sd_jwt, sd_jwt_vc
from elicense.formats._disclosures import Disclosure, Unpacker, digest, index_disclosures

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SPEC = VECTORS / "sd_jwt_vc"
KEYS = json.loads((VECTORS / "rfc9901" / "appendix_a_5_keys.json").read_text())
ISSUER = "https://example.com/issuer"
KID = "doc-signer-05-25-2022"
TRUST = single_issuer(ISSUER, [{**KEYS["issuer_public_jwk"], "kid": KID}])
NONCE, AUD = "1234567890", "https://example.com/verifier"
KB_IAT = 1756420695  # the iat of the Section 4.2 KB-JWT


def _json(name: str) -> Any:
    return json.loads((SPEC / f"{name}.json").read_text("utf-8"))


def _token(name: str) -> str:
    """The draft wraps serializations at 68 columns; joined without whitespace."""
    return "".join((SPEC / f"{name}.txt").read_text("ascii").split())


def _verify(token: str, **policy: Any) -> sd_jwt_vc.VerifiedCredential:
    with clock.frozen(KB_IAT + 30):
        return sd_jwt_vc.verify_credential(
            token, trust=TRUST, policy=sd_jwt_vc.CredentialPolicy(**policy)
        )


DISCLOSURES = _json("section_3_3_disclosures")
PAYLOAD = _json("section_3_3_sd_jwt_payload")


@pytest.mark.parametrize("entry", DISCLOSURES, ids=[d["claim"] for d in DISCLOSURES])
def test_section_3_3_disclosure_digest(entry: dict[str, Any]) -> None:
    assert digest("sha-256", entry["disclosure"]) == entry["sha256"]
    assert entry["sha256"] in PAYLOAD["_sd"]
    parsed = Disclosure.decode(entry["disclosure"], DEFAULT_LIMITS)
    assert [parsed.salt, parsed.name, parsed.value] == entry["contents"]


def test_section_3_3_every_digest_has_its_disclosure() -> None:
    assert sorted(d["sha256"] for d in DISCLOSURES) == sorted(PAYLOAD["_sd"])


def test_section_3_3_processing_yields_the_user_claims() -> None:
    decoded = tuple(Disclosure.decode(d["disclosure"], DEFAULT_LIMITS) for d in DISCLOSURES)
    unpacker = Unpacker(index_disclosures(decoded, "sha-256"), DEFAULT_LIMITS.max_depth)
    claims = unpacker.run(json.loads(json.dumps(PAYLOAD)))
    registered = {k: PAYLOAD[k] for k in ("iss", "iat", "exp", "cnf")}
    assert claims == {**_json("section_3_3_user_claims"), **registered}


def test_section_3_3_issuance_is_the_published_payload_and_disclosures() -> None:
    parts = sd_jwt.split(_token("section_3_3_issuance"))
    assert parts.issuer_jwt.header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
    assert json.loads(parts.issuer_jwt.payload) == PAYLOAD
    assert [d.encoded for d in parts.disclosures] == [d["disclosure"] for d in DISCLOSURES]
    assert parts.kb_jwt is None


def test_section_3_3_issuance_verifies_as_sd_jwt_vc() -> None:
    verified = _verify(_token("section_3_3_issuance"))
    assert verified.issuer == ISSUER
    assert verified.vct == "https://credentials.example.com/identity_credential"
    assert verified.subject_claims() == {
        k: v for k, v in _json("section_3_3_user_claims").items() if k != "vct"
    }
    assert verified.holder_jwk == KEYS["holder_public_jwk"]
    assert verified.expires_at == 1883000000
    assert verified.key_binding is None


def test_section_4_2_presentation_with_kb_jwt() -> None:
    policy = sd_jwt.KeyBindingPolicy(NONCE, AUD)
    verified = _verify(_token("section_4_2_presentation_kb"), key_binding=policy)
    assert dict(verified.claims) == _json("section_4_2_processed_payload_kb")
    assert verified.key_binding is not None
    assert verified.key_binding.issued_at == KB_IAT
    assert "key_binding" in verified.checks


def test_section_4_2_presentation_with_kb_jwt_wrong_nonce() -> None:
    policy = sd_jwt.KeyBindingPolicy("another-nonce", AUD)
    with pytest.raises(KeyBindingError) as caught:
        _verify(_token("section_4_2_presentation_kb"), key_binding=policy)
    assert caught.value.instance_code == "kb_jwt_wrong_nonce"


def test_section_4_2_presentation_made_by_our_holder() -> None:
    ours = sd_jwt.present(_token("section_3_3_issuance"), [("address",), ("is_over_65",)])
    published = _token("section_4_2_presentation_kb")
    assert ours.split("~")[0] == published.split("~")[0]
    assert set(ours.split("~")[1:-1]) == set(published.split("~")[1:-1])
    assert dict(_verify(ours).claims) == _json("section_4_2_processed_payload_kb")


def test_section_4_2_presentation_without_cnf_is_rejected_by_default() -> None:
    with pytest.raises(InvalidToken) as caught:
        _verify(_token("section_4_2_presentation_no_kb"))
    assert caught.value.instance_code == "vc_missing_cnf"


def test_section_4_2_presentation_without_kb_jwt_when_unbound_is_allowed() -> None:
    verified = _verify(_token("section_4_2_presentation_no_kb"), unsafe_allow_unbound=True)
    assert dict(verified.claims) == _json("section_4_2_processed_payload_no_kb")
    assert verified.holder_jwk is None


# --- Appendix B.1: Person Identification Data (nested disclosures) -------------------

PID_ISSUER = "https://pid-issuer.bund.de.example"
PID_TRUST = single_issuer(PID_ISSUER, [KEYS["issuer_public_jwk"]])
PID_DIGESTS = _json("appendix_b_1_digests")
PID_PAYLOAD = _json("appendix_b_1_sd_jwt_payload")


def _verify_pid(token: str, **policy: Any) -> sd_jwt_vc.VerifiedCredential:
    with clock.frozen(KB_IAT + 30):
        return sd_jwt_vc.verify_credential(
            token, trust=PID_TRUST, policy=sd_jwt_vc.CredentialPolicy(**policy)
        )


def test_appendix_b_1_disclosures_hash_to_the_listed_digests() -> None:
    parts = sd_jwt.split(_token("appendix_b_1_issuance"))
    assert json.loads(parts.issuer_jwt.payload) == PID_PAYLOAD
    assert len(parts.disclosures) == len(PID_DIGESTS)
    referenced = set(PID_PAYLOAD["_sd"])
    for disclosure, entry in zip(parts.disclosures, PID_DIGESTS, strict=True):
        assert digest("sha-256", disclosure.encoded) == entry["sha256"], entry["claim"]
        assert [disclosure.salt, disclosure.name, disclosure.value] == entry["contents"]
        if isinstance(disclosure.value, dict):
            referenced.update(disclosure.value["_sd"])
    assert referenced == {e["sha256"] for e in PID_DIGESTS}


def test_appendix_b_1_issuance_verifies_with_nested_disclosures() -> None:
    verified = _verify_pid(_token("appendix_b_1_issuance"))
    expected = {
        k: v for k, v in _json("appendix_b_1_user_claims").items() if k not in ("iss", "vct")
    }
    assert verified.subject_claims() == expected
    assert verified.vct == "urn:eudi:pid:de:1"
    with clock.frozen(KB_IAT + 30):
        plain = sd_jwt.verify(
            _token("appendix_b_1_issuance"),
            issuer_key=PID_TRUST.resolve,
            policy=sd_jwt.VerificationPolicy(),
        )
    assert ("age_equal_or_over", "18") in plain.disclosed
    assert ("address", "street_address") in plain.disclosed


def test_appendix_b_1_presentation_with_kb_jwt() -> None:
    policy = sd_jwt.KeyBindingPolicy(NONCE, AUD)
    verified = _verify_pid(_token("appendix_b_1_presentation_kb"), key_binding=policy)
    assert dict(verified.claims) == _json("appendix_b_1_processed_payload_kb")
    assert verified.key_binding is not None
    assert verified.key_binding.nonce == NONCE


def test_appendix_b_1_presentation_made_by_our_holder() -> None:
    wanted = [("age_equal_or_over", "18"), ("nationalities",)]
    ours = sd_jwt.present(_token("appendix_b_1_issuance"), wanted)
    published = _token("appendix_b_1_presentation_kb")
    assert set(ours.split("~")[1:-1]) == set(published.split("~")[1:-1])
    assert dict(_verify_pid(ours).claims) == _json("appendix_b_1_processed_payload_kb")
