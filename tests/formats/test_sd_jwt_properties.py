"""Property tests: any subset of disclosures round-trips; any byte mutation is rejected."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicense import clock
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import ELicenseError
from elicense.formats import sd_jwt, sd_jwt_vc

NOW = 1767225600
ISSUER = "https://civil-affairs.example.gov.cn"
NONCE, AUD = "nonce-p", "https://verifier.example"
CLAIMS: dict[str, Any] = {
    "license_number": "ML-1",
    "given_name": "李",
    "family_name": "伟",
    "birthdate": "1990-02-03",
    "spouse": {"given_name": "张", "family_name": "敏"},
    "nationalities": ["CN", "HK", "MO"],
    "marriage_date": "2025-10-01",
}
SD_PATHS: list[tuple[Any, ...]] = [
    ("given_name",),
    ("family_name",),
    ("birthdate",),
    ("spouse",),
    ("spouse", "given_name"),
    ("nationalities", 0),
    ("nationalities", 1),
    ("nationalities", 2),
    ("marriage_date",),
]
LEAVES = [p for p in SD_PATHS if p != ("spouse",)]


@lru_cache(maxsize=1)
def _setup() -> tuple[str, LocalSigner, TrustList]:
    issuer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    holder = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    with clock.frozen(NOW):
        token = sd_jwt_vc.issue_credential(
            signer=issuer,
            issuer=ISSUER,
            vct="urn:test",
            claims=CLAIMS,
            selectively_disclosable=SD_PATHS,
            holder_jwk=holder.public_jwk,
            expires_at=NOW + 3600,
            decoys=2,
        ).serialize()
    return token, holder, single_issuer(ISSUER, [{**issuer.public_jwk, "kid": issuer.kid}])


def _expected(chosen: set[tuple[Any, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {"license_number": "ML-1"}
    for name in ("given_name", "family_name", "birthdate", "marriage_date"):
        if (name,) in chosen:
            out[name] = CLAIMS[name]
    if ("spouse", "given_name") in chosen:
        out["spouse"] = dict(CLAIMS["spouse"])
    nationalities = [
        n for i, n in enumerate(CLAIMS["nationalities"]) if ("nationalities", i) in chosen
    ]
    out["nationalities"] = nationalities
    return out


def _present(chosen: set[tuple[Any, ...]]) -> str:
    token, holder, _ = _setup()
    with clock.frozen(NOW):
        request = sd_jwt.KeyBindingRequest(holder, nonce=NONCE, audience=AUD)
        return sd_jwt.present(token, sorted(chosen, key=str), key_binding=request)


def _verify(presentation: str | bytes) -> sd_jwt_vc.VerifiedCredential:
    _, _, trust = _setup()
    policy = sd_jwt_vc.CredentialPolicy(key_binding=sd_jwt.KeyBindingPolicy(NONCE, AUD))
    with clock.frozen(NOW + 5):
        return sd_jwt_vc.verify_credential(presentation, trust=trust, policy=policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(LEAVES)))
def test_any_subset_of_disclosures_round_trips(chosen: set[tuple[Any, ...]]) -> None:
    claims = _verify(_present(chosen)).subject_claims()
    if "spouse" in claims and ("spouse", "given_name") not in chosen:
        claims.pop("spouse")
    assert claims == _expected(chosen)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_single_byte_mutation_of_a_presentation_is_rejected(data: st.DataObject) -> None:
    presentation = _present({("given_name",), ("nationalities", 1), ("spouse", "given_name")})
    raw = bytearray(presentation.encode("ascii"))
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]), label="byte")
    raw[index] = value
    try:
        _verify(bytes(raw))
    except ELicenseError:
        return
    raise AssertionError(f"mutation at {index} to {value} was accepted")
