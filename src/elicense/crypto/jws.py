"""JWS Compact Serialization (RFC 7515): the one JWS implementation of eLicense.

Signing takes a :class:`~elicense.crypto.keystore.Signer`; verification takes a public
key chosen by the caller (from a trust list or a ``cnf`` claim), never a key named by
the token's own header. Decoding checks sizes first, then strict base64url, then strict
JSON; headers with ``crit`` are refused (we implement no extensions).
"""

from __future__ import annotations

import dataclasses
import functools
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
    signing_input = f"{_encode_header(full)}.{base64url.encode(payload)}"
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{base64url.encode(signature)}"


def _encode_header(header: dict[str, Any]) -> str:
    """base64url(JSON(header)); headers of plain strings (the usual ``alg``/``typ``/
    ``kid``) are few and repeat, so their encodings are kept in a small LRU."""
    for name, value in header.items():
        if type(name) is not str or type(value) is not str:
            return base64url.encode(_json.dumps(header))
    return _encode_string_header(tuple(header.items()))


@functools.lru_cache(maxsize=256)
def _encode_string_header(items: tuple[tuple[str, str], ...]) -> str:
    return base64url.encode(_json.dumps(dict(items)))


def decode_compact(
    token: str, *, limits: Limits = DEFAULT_LIMITS, what: str = "JWS"
) -> UnverifiedJws:
    """Split and decode a compact JWS, checking sizes before decoding anything."""
    check_size(len(token), limits.max_token_bytes, what, "token_too_large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken(f"{what} does not have three parts", code="jws_malformed")
    header_b64, payload_b64, signature_b64 = parts
    if (
        len(header_b64) > limits.max_header_bytes
        or len(payload_b64) > limits.max_payload_bytes
        or len(signature_b64) > limits.max_signature_bytes
    ):
        _check_part_sizes(header_b64, payload_b64, signature_b64, limits, what)
    header_what = f"{what} header"
    header = _json.loads_object(base64url.decode(header_b64, what=header_what), what=header_what)
    _check_header(header, what)
    payload = base64url.decode(payload_b64, what=f"{what} payload")
    return UnverifiedJws(
        header,
        payload,
        token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii"),
        base64url.decode(signature_b64, what=f"{what} signature"),
    )


def _check_part_sizes(header: str, payload: str, signature: str, limits: Limits, what: str) -> None:
    check_size(len(header), limits.max_header_bytes, f"{what} header", "header_too_large")
    check_size(len(payload), limits.max_payload_bytes, f"{what} payload", "payload_too_large")
    check_size(
        len(signature), limits.max_signature_bytes, f"{what} signature", "signature_too_large"
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
