"""Public JSON Web Keys (RFC 7517/7518/8037): import, export and thumbprints (RFC 7638).

Only public keys cross this module: a JWK carrying private material (``d``) is refused,
so a trust list or a ``cnf`` claim can never smuggle a private key through us.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from elicense.crypto import base64url
from elicense.crypto.algorithms import PrivateKey, PublicKey
from elicense.errors import CryptoError, InvalidToken, UnsupportedAlgorithm

_P256_COORD = 32
_PRIVATE_TYPES = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


def public_jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """The public JWK (required members only) of ``key``."""
    pub = key.public_key() if isinstance(key, _PRIVATE_TYPES) else key
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if not isinstance(pub.curve, ec.SECP256R1):
            raise UnsupportedAlgorithm(f"curve {pub.curve.name} is not supported")
        numbers = pub.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": base64url.encode(numbers.x.to_bytes(_P256_COORD, "big")),
            "y": base64url.encode(numbers.y.to_bytes(_P256_COORD, "big")),
        }
    raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": base64url.encode(raw)}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): our key id."""
    members = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("crv", "kty", "x")
    if not all(isinstance(jwk.get(m), str) for m in members):
        raise CryptoError("JWK lacks members needed for a thumbprint", code="jwk_invalid")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64url.encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def load_public_jwk(jwk: object) -> PublicKey:
    """Parse a public JWK (EC P-256 or OKP Ed25519); raise :class:`CryptoError` if unusable."""
    if not isinstance(jwk, Mapping):
        raise CryptoError("JWK is not a JSON object", code="jwk_invalid")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise CryptoError("JWK carries private key material", code="jwk_private_material")
    kty, crv, x, y = jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y")
    if not isinstance(x, str) or not isinstance(crv, str) or not isinstance(kty, str):
        raise CryptoError("JWK lacks kty/crv/x", code="jwk_invalid")
    if kty == "EC" and crv == "P-256" and isinstance(y, str):
        return _ec_key(x, y)
    if kty == "OKP" and crv == "Ed25519":
        return _ed25519_key(x)
    raise UnsupportedAlgorithm(f"JWK kty={kty} crv={crv} is not supported", code="jwk_unsupported")


@functools.lru_cache(maxsize=4096)
def _ec_key(x: str, y: str) -> ec.EllipticCurvePublicKey:
    try:
        xb, yb = base64url.decode(x, what="JWK x"), base64url.decode(y, what="JWK y")
        if len(xb) != _P256_COORD or len(yb) != _P256_COORD:
            raise ValueError("coordinate length")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(xb, "big"), int.from_bytes(yb, "big"), ec.SECP256R1()
        )
        return numbers.public_key()
    except (ValueError, InvalidToken) as exc:
        raise CryptoError("JWK is not a valid P-256 public key", code="jwk_invalid") from exc


@functools.lru_cache(maxsize=4096)
def _ed25519_key(x: str) -> ed25519.Ed25519PublicKey:
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(base64url.decode(x, what="JWK x"))
    except (ValueError, InvalidToken) as exc:
        raise CryptoError("JWK is not a valid Ed25519 public key", code="jwk_invalid") from exc
