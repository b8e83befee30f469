"""JWS compact: RFC examples, round trips and every rejection rule of the JWS layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense.crypto import algorithms, base64url, jwk, jws
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.limits import Limits
from elicense.errors import (
    ConfigError,
    InvalidSignature,
    InvalidToken,
    TokenTooLarge,
    UnsupportedAlgorithm,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BOTH = frozenset({"ES256", "EdDSA"})
ES_HEADER = "eyJhbGciOiJFUzI1NiJ9"  # {"alg":"ES256"}


def _es256() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def test_rfc7515_a3_es256_example_verifies() -> None:
    vector = json.loads((VECTORS / "rfc7515" / "appendix_a_3_es256.json").read_text())
    key = jwk.load_public_jwk(vector["public_jwk"])
    verified = jws.verify(jws.decode_compact(vector["jws"]), key, allowed_algs=BOTH)
    assert json.loads(verified.payload)["iss"] == "joe"


def test_rfc8037_ed25519_example_signs_and_thumbprints_exactly() -> None:
    vector = json.loads((VECTORS / "rfc8037" / "appendix_a_ed25519.json").read_text())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(base64url.decode(vector["private_d"]))
    signer = LocalSigner(key)
    assert signer.public_jwk == vector["public_jwk"]
    assert signer.kid == vector["thumbprint"] == jwk.thumbprint(vector["public_jwk"])
    token = jws.sign_compact({}, vector["payload"].encode(), signer, add_kid=False)
    assert token == vector["jws"]


def test_eddsa_is_rejected_unless_allowed() -> None:
    signer = LocalSigner(ed25519.Ed25519PrivateKey.generate())
    token = jws.decode_compact(jws.sign_compact({}, b"{}", signer))
    public = signer.private_key.public_key()
    with pytest.raises(UnsupportedAlgorithm) as caught:
        jws.verify(token, public, allowed_algs=algorithms.DEFAULT_ALLOWED)
    assert caught.value.instance_code == "jws_alg_not_allowed"
    assert jws.verify(token, public, allowed_algs=BOTH).payload == b"{}"


def test_es256_round_trip_uses_raw_signature_and_kid() -> None:
    signer = _es256()
    parsed = jws.decode_compact(jws.sign_compact({"typ": "JWT"}, b'{"a":1}', signer))
    assert parsed.header == {"alg": "ES256", "typ": "JWT", "kid": signer.kid}
    assert len(parsed.signature) == 64
    jws.verify(parsed, signer.private_key.public_key(), allowed_algs=algorithms.DEFAULT_ALLOWED)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "", None])
def test_unregistered_algorithms_are_refused(alg: object) -> None:
    signer = _es256()
    _, body, sig = jws.sign_compact({}, b"{}", signer).split(".")
    header = base64url.encode(json.dumps({"alg": alg}).encode())
    parsed = jws.decode_compact(f"{header}.{body}.{sig}") if alg is not None else None
    if parsed is None:
        with pytest.raises(InvalidToken):
            jws.decode_compact(f"{header}.{body}.{sig}")
        return
    with pytest.raises(UnsupportedAlgorithm):
        jws.verify(parsed, signer.private_key.public_key(), allowed_algs=BOTH)


def test_allow_lists_cannot_name_none_or_hmac() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.allowed_set(["ES256", "none"])
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.allowed_set(["HS256"])


def test_key_of_the_wrong_type_for_alg_is_refused() -> None:
    signer = _es256()
    token = jws.decode_compact(jws.sign_compact({}, b"{}", signer))
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(UnsupportedAlgorithm) as caught:
        jws.verify(token, other, allowed_algs=BOTH)
    assert caught.value.instance_code == "jws_key_alg_mismatch"


def test_flipped_signature_bit_and_wrong_key_fail() -> None:
    signer = _es256()
    head, body, sig = jws.sign_compact({}, b"{}", signer).split(".")
    raw = bytearray(base64url.decode(sig))
    raw[0] ^= 1
    flipped = jws.decode_compact(f"{head}.{body}.{base64url.encode(bytes(raw))}")
    with pytest.raises(InvalidSignature):
        jws.verify(flipped, signer.private_key.public_key(), allowed_algs=BOTH)
    with pytest.raises(InvalidSignature):
        jws.verify(
            jws.decode_compact(f"{head}.{body}.{sig}"),
            _es256().private_key.public_key(),
            allowed_algs=BOTH,
        )


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("a.b", "jws_malformed"),
        ("a.b.c.d", "jws_malformed"),
        (ES_HEADER + ".e30.AA==", "bad_base64url"),
        (ES_HEADER + ".e30.A", "bad_base64url"),
        (ES_HEADER + ".e30.A+B", "bad_base64url"),
        (ES_HEADER + ".e30.AB", "bad_base64url"),  # non-canonical: unused bits set
        ("e30.e30.AA", "jws_missing_alg"),  # header {} has no alg
        (base64url.encode(b'{"alg":"ES256","crit":["b64"]}') + ".e30.AA", "jws_crit_unsupported"),
        (base64url.encode(b'{"alg":"ES256","alg":"none"}') + ".e30.AA", "json_duplicate_member"),
        (base64url.encode(b"[1]") + ".e30.AA", "json_not_object"),
        (base64url.encode(b'{"alg":NaN}') + ".e30.AA", "json_invalid"),
    ],
)
def test_malformed_compact_jws_is_refused(token: str, code: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        jws.decode_compact(token)
    assert caught.value.instance_code == code


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (Limits(max_token_bytes=100), "token_too_large"),
        (Limits(max_header_bytes=10), "header_too_large"),
        (Limits(max_payload_bytes=10), "payload_too_large"),
        (Limits(max_signature_bytes=10), "signature_too_large"),
    ],
)
def test_size_caps_apply_before_decoding(limits: Limits, code: str) -> None:
    token = jws.sign_compact({"typ": "x" * 20}, b'{"p":"' + b"y" * 100 + b'"}', _es256())
    with pytest.raises(TokenTooLarge) as caught:
        jws.decode_compact(token, limits=limits)
    assert caught.value.instance_code == code


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        Limits(max_depth=0)


def test_der_and_raw_signature_conversions_are_inverse() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import hashes

    der = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    raw = algorithms.der_to_raw(der)
    assert len(raw) == 64
    assert algorithms.raw_to_der(raw) == der


def test_public_jwk_parsing_refuses_private_and_unsupported_keys() -> None:
    good = LocalSigner(ec.generate_private_key(ec.SECP256R1())).public_jwk
    with pytest.raises(Exception) as caught:
        jwk.load_public_jwk({**good, "d": "AAAA"})
    assert getattr(caught.value, "instance_code", "") == "jwk_private_material"
    for bad in ({"kty": "RSA", "n": "x", "e": "AQAB"}, {**good, "x": "AA"}, "nope"):
        with pytest.raises((UnsupportedAlgorithm, Exception)):
            jwk.load_public_jwk(bad)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(UnsupportedAlgorithm):
        jwk.public_jwk(p384)
