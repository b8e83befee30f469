"""Self-signed JWTs a client sends us: OpenID4VCI key proofs and DPoP proofs (RFC 9449).

Both carry their public key in the ``jwk`` header and are verified under that key (the
point is proving possession of it); ``alg`` must be ES256 or EdDSA — never ``none`` or
an HMAC. Pure: the callers do the single-use bookkeeping (nonces, ``jti``) in the DB.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elicense.crypto import _json, algorithms, base64url, jws
from elicense.crypto.jwk import load_public_jwk, public_jwk, thumbprint
from elicense.errors import (
    CryptoError,
    ELicenseError,
    InvalidDpopProof,
    InvalidProof,
    InvalidToken,
)

PROOF_TYP = "openid4vci-proof+jwt"
DPOP_TYP = "dpop+jwt"
PROOF_ALGS = algorithms.allowed_set((algorithms.ES256, algorithms.EDDSA))
MAX_AGE_SECONDS = 300
MAX_FUTURE_SECONDS = 60
MAX_JTI_LENGTH = 256


@dataclasses.dataclass(frozen=True, slots=True)
class SelfSignedJwt:
    """A JWT whose signature verified under the public key in its own ``jwk`` header."""

    header: dict[str, Any]
    claims: dict[str, Any]
    jwk: dict[str, str]
    jkt: str


@dataclasses.dataclass(frozen=True, slots=True)
class KeyProof:
    """A verified OpenID4VCI key proof: the holder key and the nonce it was made for."""

    jwk: dict[str, str]
    jkt: str
    nonce: str


@dataclasses.dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified DPoP proof for one request: the key thumbprint, ``jti`` and ``iat``."""

    jkt: str
    jti: str
    iat: int


def verify_self_signed(token: object, *, typ: str, error: type[ELicenseError]) -> SelfSignedJwt:
    """Decode, check ``typ``/``alg``/``jwk`` and verify under the header key; else ``error``."""
    if not isinstance(token, str):
        raise error("the proof is not a compact JWT string", code=f"{error.code}_malformed")
    try:
        decoded = jws.decode_compact(token, what=typ)
    except InvalidToken as exc:
        raise error(f"malformed proof: {exc.message}", code=f"{error.code}_malformed") from None
    header = decoded.header
    if header.get("typ") != typ:
        raise error(f"the proof's typ must be {typ}", code=f"{error.code}_typ")
    if header.get("alg") not in PROOF_ALGS:
        raise error("the proof's alg is not allowed (ES256 or EdDSA)", code=f"{error.code}_alg")
    if not isinstance(header.get("jwk"), Mapping) or "kid" in header or "x5c" in header:
        raise error("the proof must carry its key as jwk (only)", code=f"{error.code}_key")
    try:
        key = load_public_jwk(header["jwk"])
        verified = jws.verify(decoded, key, allowed_algs=PROOF_ALGS)
        claims = _json.loads_object(verified.payload, what=f"{typ} payload")
    except (CryptoError, InvalidToken):
        raise error(
            "the proof's signature does not verify under its jwk", code=f"{error.code}_signature"
        ) from None
    jwk = public_jwk(key)
    return SelfSignedJwt(header=header, claims=claims, jwk=jwk, jkt=thumbprint(jwk))


def verify_key_proof(token: object, *, audience: str, now: int) -> KeyProof:
    """An OpenID4VCI ``jwt`` key proof (Appendix F.1) for issuer ``audience``."""
    proof = verify_self_signed(token, typ=PROOF_TYP, error=InvalidProof)
    claims = proof.claims
    if claims.get("aud") != audience:
        raise InvalidProof("the proof's aud is not this credential issuer", code="proof_aud")
    _check_iat(claims.get("iat"), now, InvalidProof, "proof_iat")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidProof("the proof has no nonce (c_nonce)", code="proof_nonce_missing")
    return KeyProof(jwk=proof.jwk, jkt=proof.jkt, nonce=nonce)


def verify_dpop(
    token: object, *, method: str, url: str, now: int, access_token: str | None = None
) -> DpopProof:
    """A DPoP proof for ``method`` ``url`` (RFC 9449 Section 4.3); ``ath`` when a token is used."""
    if token is None:
        raise InvalidDpopProof("a DPoP proof is required", code="dpop_missing")
    proof = verify_self_signed(token, typ=DPOP_TYP, error=InvalidDpopProof)
    claims = proof.claims
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDpopProof("the DPoP proof has no usable jti", code="dpop_jti")
    if claims.get("htm") != method:
        raise InvalidDpopProof("the DPoP proof's htm does not match", code="dpop_htm")
    htu = claims.get("htu")
    if not isinstance(htu, str) or _strip(htu) != _strip(url):
        raise InvalidDpopProof("the DPoP proof's htu does not match", code="dpop_htu")
    iat = _check_iat(claims.get("iat"), now, InvalidDpopProof, "dpop_iat")
    if access_token is not None and claims.get("ath") != token_hash_b64(access_token):
        raise InvalidDpopProof("the DPoP proof's ath does not match the token", code="dpop_ath")
    return DpopProof(jkt=proof.jkt, jti=jti, iat=iat)


def token_hash_b64(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the access token (RFC 9449 Section 4.2)."""
    return base64url.encode(hashlib.sha256(access_token.encode("ascii")).digest())


def _check_iat(value: object, now: int, error: type[ELicenseError], code: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error("iat must be an integer (seconds)", code=code)
    if value < now - MAX_AGE_SECONDS or value > now + MAX_FUTURE_SECONDS:
        raise error("iat is too old or in the future", code=code)
    return value


def _strip(url: str) -> str:
    """A URL without query and fragment, for ``htu`` comparison."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))
