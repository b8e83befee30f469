"""The JWS algorithm registry: the only algorithms eLicense signs or verifies with.

``ES256`` (ECDSA P-256 + SHA-256, raw ``r || s`` signatures, RFC 7518 Section 3.4) is
the default; ``EdDSA`` (Ed25519, RFC 8037) is implemented but must be allowed per issuer.
``none``, every HMAC algorithm and RSA are absent on purpose: a name not in
:data:`REGISTRY` is rejected before any key is touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from elicense.errors import InvalidSignature, UnsupportedAlgorithm

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

ES256 = "ES256"
EDDSA = "EdDSA"

#: Algorithms allowed when nobody says otherwise.
DEFAULT_ALLOWED: frozenset[str] = frozenset({ES256})

_P256_ORDER_BYTES = 32
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@dataclasses.dataclass(frozen=True, slots=True)
class Algorithm:
    """One registered JWS algorithm: its name, key type and signature length."""

    name: str
    kty: str
    crv: str
    signature_length: int


REGISTRY: dict[str, Algorithm] = {
    ES256: Algorithm(ES256, "EC", "P-256", 2 * _P256_ORDER_BYTES),
    EDDSA: Algorithm(EDDSA, "OKP", "Ed25519", 64),
}


def allowed_set(names: Iterable[str]) -> frozenset[str]:
    """Validate an allow-list: every name must be registered (so never ``none``/HMAC)."""
    result = frozenset(names)
    unknown = sorted(result - REGISTRY.keys())
    if unknown:
        raise UnsupportedAlgorithm(
            f"algorithm(s) {', '.join(unknown)} are not supported", code="jws_alg_unsupported"
        )
    return result


def require_allowed(alg: object, allowed: frozenset[str]) -> Algorithm:
    """The registered :class:`Algorithm` for ``alg`` if it is in ``allowed``; else raise."""
    if not isinstance(alg, str) or alg not in allowed or alg not in REGISTRY:
        raise UnsupportedAlgorithm(f"JWS alg {alg!r} is not allowed", code="jws_alg_not_allowed")
    return REGISTRY[alg]


def algorithm_for_key(key: PublicKey | PrivateKey) -> str:
    """The JWS ``alg`` name that goes with ``key``."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnsupportedAlgorithm(f"curve {key.curve.name} is not supported")
        return ES256
    return EDDSA


def sign(alg: str, key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data`` and return the JWS signature bytes (raw ``r || s`` for ECDSA)."""
    if alg == ES256 and isinstance(key, ec.EllipticCurvePrivateKey):
        return der_to_raw(key.sign(data, _ECDSA_SHA256))
    if alg == EDDSA and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise UnsupportedAlgorithm(f"key does not fit alg {alg}", code="jws_key_alg_mismatch")


def verify(alg: Algorithm, key: PublicKey, data: bytes, signature: bytes) -> None:
    """Verify a JWS signature; raise :class:`InvalidSignature` on any mismatch."""
    if len(signature) != alg.signature_length:
        raise InvalidSignature("signature has the wrong length", code="jws_bad_signature_length")
    try:
        if alg.name == ES256 and isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise UnsupportedAlgorithm("ES256 needs a P-256 key", code="jws_key_alg_mismatch")
            key.verify(raw_to_der(signature), data, _ECDSA_SHA256)
            return
        if alg.name == EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return
    except _CryptoInvalidSignature as exc:
        raise InvalidSignature("signature does not verify", code="jws_bad_signature") from exc
    raise UnsupportedAlgorithm(f"key does not fit alg {alg.name}", code="jws_key_alg_mismatch")


def der_to_raw(der: bytes) -> bytes:
    """DER ``ECDSA-Sig-Value`` to JOSE raw ``r || s`` (P-256)."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")


def raw_to_der(raw: bytes) -> bytes:
    """JOSE raw ``r || s`` (P-256) to DER ``ECDSA-Sig-Value``."""
    r = int.from_bytes(raw[:_P256_ORDER_BYTES], "big")
    s = int.from_bytes(raw[_P256_ORDER_BYTES:], "big")
    return encode_dss_signature(r, s)
