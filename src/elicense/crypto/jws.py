"""JWS Compact Serialization (RFC 7515): the one JWS implementation of eLicense.

Signing takes a :class:`~elicense.crypto.keystore.Signer`; verification takes a public
key chosen by the caller (from a trust list or a ``cnf`` claim), never a key named by
the token's own header. Decoding checks sizes first, then strict base64url, then strict
JSON; headers with ``crit`` are refused (we implement no extensions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from elicense.crypto import _json, algorithms, base64url
from elicense.crypto.keystore import Signer
from elicense.crypto.limits import DEFAULT_LIMITS, Limits, check_size
from elicense.errors import InvalidToken


@dataclasses.dataclass(frozen=True, slots=True)
class UnverifiedJws:
    """A decoded but **not yet verified** compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> object:
        return self.header.get("alg")


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedJws:
    """A JWS whose signature verified under a caller-chosen key and allowed ``alg``."""

    header: dict[str, Any]
    payload: bytes


def sign_compact(
    header: Mapping[str, Any], payload: bytes, signer: Signer, *, add_kid: bool = True
) -> str:
    """Sign ``payload`` with ``signer``; ``alg`` (and ``kid`` unless given) come from it."""
    full = {"alg": signer.alg, **{k: v for k, v in header.items() if k != "alg"}}
    if add_kid and "kid" not in full and signer.kid:
        full["kid"] = signer.kid
    signing_input = f"{base64url.encode(_json.dumps(full))}.{base64url.encode(payload)}"
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{base64url.encode(signature)}"


def decode_compact(
    token: str, *, limits: Limits = DEFAULT_LIMITS, what: str = "JWS"
) -> UnverifiedJws:
    """Split and decode a compact JWS, checking sizes before decoding anything."""
    check_size(len(token), limits.max_token_bytes, what, "token_too_large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken(f"{what} does not have three parts", code="jws_malformed")
    header_b64, payload_b64, signature_b64 = parts
    check_size(len(header_b64), limits.max_header_bytes, f"{what} header", "header_too_large")
    check_size(len(payload_b64), limits.max_payload_bytes, f"{what} payload", "payload_too_large")
    check_size(
        len(signature_b64), limits.max_signature_bytes, f"{what} signature", "signature_too_large"
    )
    header = _json.loads_object(
        base64url.decode(header_b64, what=f"{what} header"), what=f"{what} header"
    )
    _check_header(header, what)
    return UnverifiedJws(
        header=header,
        payload=base64url.decode(payload_b64, what=f"{what} payload"),
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=base64url.decode(signature_b64, what=f"{what} signature"),
    )


def verify(
    jws: UnverifiedJws, key: algorithms.PublicKey, *, allowed_algs: frozenset[str]
) -> VerifiedJws:
    """Verify ``jws`` under ``key``; ``alg`` must be registered and in ``allowed_algs``."""
    alg = algorithms.require_allowed(jws.alg, allowed_algs)
    algorithms.verify(alg, key, jws.signing_input, jws.signature)
    return VerifiedJws(header=jws.header, payload=jws.payload)


def _check_header(header: dict[str, Any], what: str) -> None:
    if not isinstance(header.get("alg"), str):
        raise InvalidToken(f"{what} header has no alg", code="jws_missing_alg")
    if "crit" in header:
        raise InvalidToken(f"{what} header has unsupported crit", code="jws_crit_unsupported")
