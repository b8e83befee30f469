"""COSE_Sign1 (``elicense.crypto.cose``), used by the CWT form of the status list token."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense.crypto import cose
from elicense.crypto.keystore import LocalSigner
from elicense.errors import InvalidSignature, InvalidToken, TokenTooLarge, UnsupportedAlgorithm


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def _public(signer: LocalSigner) -> ec.EllipticCurvePublicKey:
    key = signer.private_key.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_sign_then_verify_round_trip(signer: LocalSigner) -> None:
    message = cose.sign1(b"payload", signer, protected={cose.TYP: "application/x"})
    decoded = cose.decode_sign1(message)
    assert decoded.protected[cose.ALG] == -7
    assert decoded.protected[cose.TYP] == "application/x"
    assert decoded.unprotected[cose.KID] == signer.kid.encode()
    verified = cose.verify_sign1(decoded, _public(signer))
    assert verified.payload == b"payload"


def test_untagged_message_decodes(signer: LocalSigner) -> None:
    message = cose.sign1(b"p", signer, tagged=False)
    assert cose.verify_sign1(cose.decode_sign1(message), _public(signer)).payload == b"p"


def test_flipped_signature_bit_is_rejected(signer: LocalSigner) -> None:
    message = bytearray(cose.sign1(b"payload", signer))
    message[-1] ^= 1
    with pytest.raises(InvalidSignature):
        cose.verify_sign1(cose.decode_sign1(bytes(message)), _public(signer))


def test_other_key_is_rejected(signer: LocalSigner) -> None:
    other = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(InvalidSignature):
        cose.verify_sign1(cose.decode_sign1(cose.sign1(b"p", signer)), _public(other))


def test_external_aad_is_bound(signer: LocalSigner) -> None:
    decoded = cose.decode_sign1(cose.sign1(b"p", signer))
    with pytest.raises(InvalidSignature):
        cose.verify_sign1(decoded, _public(signer), external_aad=b"x")


def test_alg_outside_allow_list_is_rejected() -> None:
    signer = LocalSigner(ed25519.Ed25519PrivateKey.generate())
    decoded = cose.decode_sign1(cose.sign1(b"p", signer))
    with pytest.raises(UnsupportedAlgorithm):
        cose.verify_sign1(decoded, signer.private_key.public_key())
    verified = cose.verify_sign1(
        decoded, signer.private_key.public_key(), allowed_algs=frozenset({"EdDSA"})
    )
    assert verified.payload == b"p"


def test_alg_only_in_unprotected_header_is_rejected(signer: LocalSigner) -> None:
    protected = cbor2.dumps({})
    signature = signer.sign(cose.sig_structure(protected, b"", b"p"))
    message = cbor2.dumps(cbor2.CBORTag(18, [protected, {1: -7}, b"p", signature]))
    with pytest.raises(UnsupportedAlgorithm):
        cose.verify_sign1(cose.decode_sign1(message), _public(signer))


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(lambda m: m + b"\x00", id="trailing_bytes"),
        pytest.param(
            lambda m: cbor2.dumps(cbor2.CBORTag(17, cbor2.loads(m).value)), id="wrong_tag"
        ),
        pytest.param(lambda m: cbor2.dumps(list(cbor2.loads(m).value)[:3]), id="three_elements"),
        pytest.param(lambda m: b"\xff\xff", id="not_cbor"),
        pytest.param(
            lambda m: cbor2.dumps([cbor2.dumps({1: -7, 2: [99]}), {}, b"p", b"s"]), id="crit"
        ),
        pytest.param(
            lambda m: cbor2.dumps([b"\xa2\x01\x26\x01\x26", {}, b"p", b"s"]), id="dup_key"
        ),
        pytest.param(
            lambda m: cbor2.dumps([cbor2.dumps({1: -7}), {1: -7}, b"p", b"s"]), id="repeat"
        ),
        pytest.param(lambda m: cbor2.dumps(["x", {}, b"p", b"s"]), id="protected_not_bytes"),
    ],
)
def test_malformed_messages_are_rejected(signer: LocalSigner, mutation: object) -> None:
    assert callable(mutation)
    with pytest.raises(InvalidToken):
        cose.decode_sign1(mutation(cose.sign1(b"p", signer)))


def test_oversized_message_is_rejected_before_decoding() -> None:
    with pytest.raises(TokenTooLarge):
        cose.decode_sign1(b"\x00" * 100, max_bytes=99)
