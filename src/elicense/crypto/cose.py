"""COSE_Sign1 (RFC 9052 Section 4.2 and 4.4): sign and verify, ES256 by default.

Used by the CWT form of the token status list and by mdoc. The algorithm comes from the
*protected* header only and must be in the caller's allow-list; ``crit`` is refused;
the input size is capped before any CBOR is decoded. Keys are chosen by the caller,
never taken from the message.
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

SIGN1_TAG = 18
#: Header labels (IANA COSE Header Parameters; ``TYP`` from RFC 9596).
ALG, CRIT, CONTENT_TYPE, KID, TYP, X5CHAIN = 1, 2, 3, 4, 16, 33
#: JOSE algorithm names <-> COSE algorithm identifiers (IANA COSE Algorithms).
COSE_ALGS: dict[str, int] = {algorithms.ES256: -7, algorithms.EDDSA: -8}
_JOSE_ALGS = {v: k for k, v in COSE_ALGS.items()}
#: Large enough for a status list token of 10^8 entries; checked before decoding.
MAX_SIGN1_BYTES = 4 * 1024 * 1024 + 4096
MAX_PROTECTED_BYTES = 4096
MAX_CBOR_DEPTH = 16


@dataclasses.dataclass(frozen=True, slots=True)
class UnverifiedSign1:
    """A decoded, **not yet verified** COSE_Sign1."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes | None
    signature: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedSign1:
    """A COSE_Sign1 whose signature verified under a caller-chosen key."""

    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes


def sig_structure(protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """The ``Sig_structure`` (RFC 9052 Section 4.4) that is signed."""
    return bytes(cbor2.dumps(["Signature1", protected, external_aad, payload]))


def loads_strict(data: bytes, *, what: str = "CBOR data") -> Any:
    """Decode CBOR refusing indefinite lengths, duplicate map keys, deep nesting and
    trailing bytes (one canonical reading of every signed byte)."""
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream, max_depth=MAX_CBOR_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        )
        value = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, RecursionError, EOFError) as exc:
        raise InvalidToken(f"{what} is not valid CBOR", code="cose_malformed") from exc
    if stream.tell() != len(data):
        raise InvalidToken(f"{what} has trailing bytes", code="cose_malformed")
    return value


def sign1(
    payload: bytes,
    signer: Signer,
    *,
    protected: Mapping[int, Any] | None = None,
    unprotected: Mapping[int, Any] | None = None,
    external_aad: bytes = b"",
    detached: bool = False,
    tagged: bool = True,
) -> bytes:
    """A COSE_Sign1 over ``payload``; ``alg`` goes in the protected header, ``kid`` in
    the unprotected one unless the caller placed it."""
    header = {ALG: COSE_ALGS[signer.alg], **(protected or {})}
    protected_bytes = bytes(cbor2.dumps(header, canonical=True))
    plain = dict(unprotected or {})
    if KID not in header and KID not in plain and signer.kid:
        plain[KID] = signer.kid.encode("ascii")
    signature = signer.sign(sig_structure(protected_bytes, external_aad, payload))
    message = [protected_bytes, plain, None if detached else payload, signature]
    return bytes(cbor2.dumps(cbor2.CBORTag(SIGN1_TAG, message) if tagged else message))


def decode_sign1(
    data: bytes, *, max_bytes: int = MAX_SIGN1_BYTES, what: str = "COSE_Sign1"
) -> UnverifiedSign1:
    """Parse a (tagged or untagged) COSE_Sign1, checking its size first."""
    if len(data) > max_bytes:
        raise TokenTooLarge(f"{what} is {len(data)} bytes, the limit is {max_bytes}")
    item = loads_strict(data, what=what)
    if isinstance(item, cbor2.CBORTag):
        if item.tag != SIGN1_TAG:
            raise InvalidToken(f"CBOR tag {item.tag} is not COSE_Sign1", code="cose_wrong_tag")
        item = item.value
    return _parts(item)


def _parts(item: object) -> UnverifiedSign1:
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise InvalidToken("COSE_Sign1 is not a 4-element array", code="cose_malformed")
    protected_bytes, unprotected, payload, signature = item
    if (
        not isinstance(protected_bytes, bytes)
        or len(protected_bytes) > MAX_PROTECTED_BYTES
        or not isinstance(unprotected, Mapping)
    ):
        raise InvalidToken("COSE_Sign1 headers are malformed", code="cose_malformed")
    if not (payload is None or isinstance(payload, bytes)) or not isinstance(signature, bytes):
        raise InvalidToken("COSE_Sign1 payload or signature is malformed", code="cose_malformed")
    protected = loads_strict(protected_bytes, what="protected header") if protected_bytes else {}
    if not isinstance(protected, Mapping):
        raise InvalidToken("protected header is not a map", code="cose_malformed")
    protected, unprotected = dict(protected), dict(unprotected)
    if CRIT in protected or CRIT in unprotected:
        raise InvalidToken("COSE crit headers are not supported", code="cose_crit_unsupported")
    if protected.keys() & unprotected.keys():
        raise InvalidToken("a header is both protected and not", code="cose_duplicate_header")
    return UnverifiedSign1(protected_bytes, protected, unprotected, payload, signature)


def verify_sign1(
    message: UnverifiedSign1,
    key: algorithms.PublicKey,
    *,
    allowed_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED,
    external_aad: bytes = b"",
    detached_payload: bytes | None = None,
) -> VerifiedSign1:
    """Verify ``message`` under ``key``; the protected ``alg`` must be allowed."""
    cose_alg = message.protected.get(ALG)
    name = _JOSE_ALGS.get(cose_alg) if isinstance(cose_alg, int) else None
    if name is None:
        raise UnsupportedAlgorithm(
            f"COSE alg {cose_alg!r} is not allowed", code="cose_alg_not_allowed"
        )
    alg = algorithms.require_allowed(name, allowed_algs)
    payload = message.payload if message.payload is not None else detached_payload
    if payload is None:
        raise InvalidToken(
            "COSE_Sign1 payload is detached and was not given", code="cose_malformed"
        )
    to_be_signed = sig_structure(message.protected_bytes, external_aad, payload)
    algorithms.verify(alg, key, to_be_signed, message.signature)
    return VerifiedSign1(message.protected, message.unprotected, payload)
