"""COSE_Sign1 (RFC 9052 Section 4.2): create and verify single-signer COSE messages.

Signing takes a :class:`~elicense.crypto.keystore.Signer` (the same signers JWS uses: a
JWS ``ES256`` signature is raw ``r || s``, which is also the COSE ES256 signature,
RFC 9053 Section 2.1). Verification takes a public key chosen by the caller and an
allow-list of algorithms; the ``alg`` must sit in the *protected* header. Decoding checks
the size first, then decodes strict CBOR (no duplicate map keys, no indefinite lengths,
bounded depth, no trailing bytes); a ``crit`` header is refused (we implement no
extensions).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from typing import Any

import cbor2

from elicense.crypto import algorithms
from elicense.crypto.keystore import Signer
from elicense.errors import InvalidToken, TokenTooLarge, UnsupportedAlgorithm

#: CBOR tag of a COSE_Sign1 message (RFC 9052 Section 2).
COSE_SIGN1_TAG = 18

# Common header parameter labels (RFC 9052 Section 3.1; ``typ`` from RFC 9596).
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_CONTENT_TYPE = 3
HEADER_KID = 4
HEADER_TYP = 16

#: COSE algorithm identifiers (RFC 9053) <-> the JWS algorithm registry's names.
COSE_ALGORITHMS: dict[int, str] = {-7: algorithms.ES256, -8: algorithms.EDDSA}
_COSE_ID_FOR_JWS = {name: ident for ident, name in COSE_ALGORITHMS.items()}

MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 4096
MAX_PROTECTED_BYTES = 4096
MAX_DEPTH = 16


@dataclasses.dataclass(frozen=True, slots=True)
class UnverifiedSign1:
    """A decoded but **not yet verified** COSE_Sign1 message."""

    protected: dict[int, Any]
    unprotected: dict[int, Any]
    payload: bytes
    signature: bytes
    protected_bytes: bytes

    @property
    def kid(self) -> bytes | None:
        """The key id (protected first, then unprotected); a hint, never a trust decision."""
        kid = self.protected.get(HEADER_KID, self.unprotected.get(HEADER_KID))
        return kid if isinstance(kid, bytes) else None


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedSign1:
    """A COSE_Sign1 whose signature verified under a caller-chosen key and allowed alg."""

    protected: dict[int, Any]
    unprotected: dict[int, Any]
    payload: bytes


def cose_alg_id(jws_alg: str) -> int:
    """The COSE algorithm id for a JWS algorithm name (``ES256`` -> -7)."""
    try:
        return _COSE_ID_FOR_JWS[jws_alg]
    except KeyError:
        raise UnsupportedAlgorithm(
            f"no COSE algorithm for {jws_alg}", code="cose_alg_unsupported"
        ) from None


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The ``Sig_structure`` for COSE_Sign1 (RFC 9052 Section 4.4): what gets signed."""
    return cbor2.dumps(["Signature1", protected_bytes, external_aad, payload])


def sign1(
    payload: bytes,
    signer: Signer,
    *,
    protected: Mapping[int, Any] | None = None,
    unprotected: Mapping[int, Any] | None = None,
    tagged: bool = True,
) -> bytes:
    """Sign ``payload`` as a COSE_Sign1; ``alg`` (and ``kid`` unless given) come from ``signer``."""
    header: dict[int, Any] = {HEADER_ALG: cose_alg_id(signer.alg)}
    header.update({k: v for k, v in (protected or {}).items() if k != HEADER_ALG})
    if HEADER_KID not in header and signer.kid:
        header[HEADER_KID] = signer.kid.encode("utf-8")
    protected_bytes = cbor2.dumps(header)
    signature = signer.sign(sig_structure(protected_bytes, payload))
    message = [protected_bytes, dict(unprotected or {}), payload, signature]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, message) if tagged else message)


def decode_sign1(
    data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, what: str = "COSE_Sign1"
) -> UnverifiedSign1:
    """Decode a (tagged or untagged) COSE_Sign1, checking its size before decoding."""
    if len(data) > max_bytes:
        raise TokenTooLarge(
            f"{what} is {len(data)} bytes, the limit is {max_bytes}", code="token_too_large"
        )
    value = _strict_cbor(data, what)
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1_TAG:
            raise InvalidToken(f"{what} has CBOR tag {value.tag}", code="cose_malformed")
        value = value.value
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise InvalidToken(f"{what} is not a four-element array", code="cose_malformed")
    protected_bytes, unprotected, payload, signature = value
    if not isinstance(protected_bytes, bytes) or len(protected_bytes) > MAX_PROTECTED_BYTES:
        raise InvalidToken(f"{what} protected header is not a byte string", code="cose_malformed")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise InvalidToken(f"{what} payload or signature is not bytes", code="cose_malformed")
    protected = _header_map(_strict_cbor(protected_bytes, what) if protected_bytes else {}, what)
    unprotected_map = _header_map(unprotected, what)
    if HEADER_CRIT in protected or HEADER_CRIT in unprotected_map:
        raise InvalidToken(f"{what} has unsupported crit", code="cose_crit_unsupported")
    if protected.keys() & unprotected_map.keys():
        raise InvalidToken(f"{what} repeats a header parameter", code="cose_malformed")
    return UnverifiedSign1(protected, unprotected_map, payload, signature, protected_bytes)


def verify_sign1(
    message: UnverifiedSign1,
    key: algorithms.PublicKey,
    *,
    allowed_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED,
    external_aad: bytes = b"",
) -> VerifiedSign1:
    """Verify ``message`` under ``key``; its protected ``alg`` must be in ``allowed_algs``."""
    alg_id = message.protected.get(HEADER_ALG)
    if isinstance(alg_id, bool) or not isinstance(alg_id, int) or alg_id not in COSE_ALGORITHMS:
        raise UnsupportedAlgorithm(
            f"COSE alg {alg_id!r} is not allowed", code="cose_alg_not_allowed"
        )
    alg = algorithms.require_allowed(COSE_ALGORITHMS[alg_id], allowed_algs)
    to_check = sig_structure(message.protected_bytes, message.payload, external_aad)
    algorithms.verify(alg, key, to_check, message.signature)
    return VerifiedSign1(message.protected, message.unprotected, message.payload)


def loads_strict(data: bytes, *, what: str = "CBOR") -> Any:
    """Decode one CBOR item strictly (as for COSE): no duplicate keys, no indefinite
    lengths, bounded depth, no trailing bytes; raise :class:`InvalidToken` otherwise."""
    return _strict_cbor(data, what)


def _strict_cbor(data: bytes, what: str) -> Any:
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream, max_depth=MAX_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        )
        value = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, RecursionError, EOFError) as exc:
        raise InvalidToken(f"{what} is not valid CBOR", code="cose_malformed") from exc
    if stream.tell() != len(data):
        raise InvalidToken(f"{what} has trailing bytes", code="cose_malformed")
    return value


def _header_map(value: object, what: str) -> dict[int, Any]:
    if not isinstance(value, Mapping):
        raise InvalidToken(f"{what} header is not a map", code="cose_malformed")
    for label in value:
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise InvalidToken(f"{what} header label is not int/text", code="cose_malformed")
    return dict(value)
