"""COSE_Sign1 (RFC 9052): the RFC example, round trips and rejections."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense.crypto import cose, jwk
from elicense.crypto.keystore import LocalSigner
from elicense.errors import InvalidSignature, InvalidToken, TokenTooLarge, UnsupportedAlgorithm

VECTOR = json.loads(
    (
        Path(__file__).resolve().parents[1]
        / "vectors"
        / "rfc9052"
        / "appendix_c_2_1_sign1_es256.json"
    ).read_text()
)


def test_rfc9052_c_2_1_verifies() -> None:
    message = cose.decode_sign1(bytes.fromhex(VECTOR["cbor_hex"]))
    verified = cose.verify_sign1(message, jwk.load_public_jwk(VECTOR["public_jwk"]))
    assert verified.payload == VECTOR["payload"].encode()
    assert verified.unprotected[cose.KID] == VECTOR["kid"].encode()
    tampered = bytearray(bytes.fromhex(VECTOR["cbor_hex"]))
    tampered[-1] ^= 1
    with pytest.raises(InvalidSignature):
        cose.verify_sign1(
            cose.decode_sign1(bytes(tampered)), jwk.load_public_jwk(VECTOR["public_jwk"])
        )


def test_round_trip_with_aad_detached_and_eddsa() -> None:
    signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    public = signer.private_key.public_key()
    data = cose.sign1(b"status list", signer, protected={16: "application/statuslist+cwt"})
    verified = cose.verify_sign1(cose.decode_sign1(data), public)  # type: ignore[arg-type]
    assert verified.protected == {1: -7, 16: "application/statuslist+cwt"}
    assert verified.unprotected == {4: signer.kid.encode()}
    detached = cose.sign1(b"x", signer, external_aad=b"aad", detached=True, tagged=False)
    message = cose.decode_sign1(detached)
    assert message.payload is None
    cose.verify_sign1(message, public, external_aad=b"aad", detached_payload=b"x")  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        cose.verify_sign1(message, public, external_aad=b"other", detached_payload=b"x")  # type: ignore[arg-type]
    ed = LocalSigner(ed25519.Ed25519PrivateKey.generate())
    ed_message = cose.decode_sign1(cose.sign1(b"y", ed))
    with pytest.raises(UnsupportedAlgorithm):
        cose.verify_sign1(ed_message, ed.private_key.public_key())  # type: ignore[arg-type]
    both = frozenset({"ES256", "EdDSA"})
    assert (
        cose.verify_sign1(ed_message, ed.private_key.public_key(), allowed_algs=both).payload
        == b"y"
    )  # type: ignore[arg-type]


def _raw(
    protected: dict[int, object], unprotected: dict[int, object], payload: object = b"p"
) -> bytes:
    return bytes(
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(protected), unprotected, payload, b"\x00" * 64]))
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff", "cose_malformed"),
        (cbor2.dumps(cbor2.CBORTag(98, [])), "cose_wrong_tag"),
        (cbor2.dumps([1, 2, 3]), "cose_malformed"),
        (_raw({1: -7, 2: [1]}, {}), "cose_crit_unsupported"),
        (_raw({1: -7}, {1: -7}), "cose_duplicate_header"),
        (_raw({1: -7}, {}, payload=5), "cose_malformed"),
    ],
)
def test_malformed_messages_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        cose.decode_sign1(data)
    assert caught.value.instance_code == code


@pytest.mark.parametrize("protected", [{}, {1: -257}, {1: 5}, {1: "ES256"}])
def test_alg_must_be_protected_and_allowed(protected: dict[int, object]) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    unprotected: dict[int, object] = {1: -7} if not protected else {}
    with pytest.raises(UnsupportedAlgorithm):
        cose.verify_sign1(cose.decode_sign1(_raw(protected, unprotected)), key)


def test_size_cap_applies_before_decoding() -> None:
    with pytest.raises(TokenTooLarge):
        cose.decode_sign1(b"\x00" * 10, max_bytes=5)
