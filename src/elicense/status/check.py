"""Verifier side: check a referenced token's status against a fetched Status List Token.

Pure: bytes and keys in, a :class:`Status` out, or a typed error. The caller (the
verifier) fetches the token from the ``uri`` in the referenced token's ``status`` claim
and passes the *issuer's* keys, chosen from its trust list, never from the token.

Checks, in order: form and size; signature under one of the trusted keys with an allowed
``alg`` (``status_list_bad_signature`` / ``status_list_alg_not_allowed``); ``typ``
(``status_list_wrong_typ``); ``sub`` equals the reference's ``uri``
(``status_list_sub_mismatch``); ``iat`` not in the future and ``exp`` not past
(:class:`TokenNotYetValid` / :class:`TokenExpired`, ``status_list_*``); the index is
inside the list (``status_index_out_of_range``). :func:`check_status` then raises
:class:`CredentialRevoked` or :class:`CredentialSuspended` for those statuses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from elicense import clock
from elicense.crypto import _json, cose, jws
from elicense.crypto.limits import Limits
from elicense.crypto.trust import IssuerKey
from elicense.errors import (
    CredentialRevoked,
    CredentialSuspended,
    CryptoError,
    InvalidToken,
    StatusUnavailable,
    TokenExpired,
    TokenNotYetValid,
)
from elicense.status.token import (
    CWT_EXP,
    CWT_IAT,
    CWT_MEDIA_TYPE,
    CWT_STATUS_LIST,
    CWT_SUB,
    CWT_TTL,
    JWT_MEDIA_TYPE,
    JWT_TYP,
    TokenForm,
)
from elicense.status.token_status_list import (
    MAX_COMPRESSED_BYTES,
    Status,
    StatusList,
    decode_cwt_claim,
    decode_jwt_claim,
)

#: Largest Status List Token accepted (a full compressed list plus headers).
MAX_TOKEN_BYTES = MAX_COMPRESSED_BYTES * 4 // 3 + 8192
_JWT_LIMITS = Limits(max_token_bytes=MAX_TOKEN_BYTES, max_payload_bytes=MAX_TOKEN_BYTES)
DEFAULT_LEEWAY_SECONDS = 60

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class StatusReference:
    """The ``status_list`` member of a referenced token's ``status`` claim."""

    idx: int
    uri: str

    def to_claim(self) -> dict[str, Any]:
        """``{"status_list": {"idx": ..., "uri": ...}}`` as put in a credential."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedStatusList:
    """A Status List Token whose signature, type, subject and times all checked out."""

    form: TokenForm
    uri: str
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList


def parse_status_claim(status: object) -> StatusReference:
    """Parse a referenced token's ``status`` claim; ``status_claim_malformed`` otherwise."""
    inner = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(inner, Mapping):
        raise InvalidToken("status claim has no status_list", code="status_claim_malformed")
    idx, uri = inner.get("idx"), inner.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise InvalidToken(
            "status_list.idx must be a non-negative integer", code="status_claim_malformed"
        )
    if not isinstance(uri, str) or not uri:
        raise InvalidToken("status_list.uri must be a string", code="status_claim_malformed")
    return StatusReference(idx=idx, uri=uri)


def verify_status_list_token(
    token: str | bytes,
    keys: Sequence[IssuerKey],
    *,
    uri: str,
    form: TokenForm | None = None,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> VerifiedStatusList:
    """Verify a fetched Status List Token (JWT or CWT) for the list at ``uri``."""
    form = form or _guess_form(token)
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("status list token too large", code="status_list_too_large")
    if form is TokenForm.JWT:
        claims, status_list = _verify_jwt(_as_text(token), keys)
    else:
        claims, status_list = _verify_cwt(_as_bytes(token), keys)
    return _check_claims(form, claims, status_list, uri, leeway)


def read_status(
    token: str | bytes,
    status_claim: object,
    keys: Sequence[IssuerKey],
    *,
    form: TokenForm | None = None,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> int:
    """The verified status value of the referenced token (any value, not raising on it)."""
    reference = parse_status_claim(status_claim)
    verified = verify_status_list_token(token, keys, uri=reference.uri, form=form, leeway=leeway)
    if reference.idx >= verified.status_list.size:
        raise InvalidToken(
            f"status index {reference.idx} is outside the list (size {verified.status_list.size})",
            code="status_index_out_of_range",
        )
    return verified.status_list[reference.idx]


def check_status(
    token: str | bytes,
    status_claim: object,
    keys: Sequence[IssuerKey],
    *,
    form: TokenForm | None = None,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> Status:
    """:attr:`Status.VALID`, or raise :class:`CredentialRevoked`/:class:`CredentialSuspended`
    (or :class:`StatusUnavailable` for a status value we do not know)."""
    return require_valid(read_status(token, status_claim, keys, form=form, leeway=leeway))


def require_valid(value: int) -> Status:
    """:attr:`Status.VALID` for a valid entry; otherwise raise the error naming its status."""
    if value == Status.VALID:
        return Status.VALID
    if value == Status.INVALID:
        raise CredentialRevoked("the credential has been revoked")
    if value == Status.SUSPENDED:
        raise CredentialSuspended("the credential is suspended")
    raise StatusUnavailable(f"unknown status value {value:#x}", code="status_value_unknown")


# --- forms ------------------------------------------------------------------------------


def _guess_form(token: str | bytes) -> TokenForm:
    if isinstance(token, str):
        return TokenForm.JWT
    return TokenForm.CWT if token[:1] in (b"\xd2", b"\x84") else TokenForm.JWT


def _as_text(token: str | bytes) -> str:
    if isinstance(token, str):
        return token
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidToken("status list JWT is not ASCII", code="status_list_malformed") from None


def _as_bytes(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        return token
    raise InvalidToken("status list CWT must be bytes", code="status_list_malformed")


def _verify_jwt(token: str, keys: Sequence[IssuerKey]) -> tuple[dict[str, Any], StatusList]:
    unverified = jws.decode_compact(token, limits=_JWT_LIMITS, what="status list token")
    _verify_with_any(
        keys, lambda key: jws.verify(unverified, key.key, allowed_algs=key.allowed_algs)
    )
    if unverified.header.get("typ") not in (JWT_TYP, JWT_MEDIA_TYPE):
        raise InvalidToken("token typ is not statuslist+jwt", code="status_list_wrong_typ")
    payload = _json.loads_object(unverified.payload, what="status list token payload")
    claims = {
        "sub": payload.get("sub"),
        "iat": payload.get("iat"),
        "exp": payload.get("exp"),
        "ttl": payload.get("ttl"),
    }
    if "status_list" not in payload:
        raise InvalidToken("token has no status_list", code="status_list_malformed")
    return claims, decode_jwt_claim(payload["status_list"])


def _verify_cwt(token: bytes, keys: Sequence[IssuerKey]) -> tuple[dict[str, Any], StatusList]:
    message = cose.decode_sign1(token, max_bytes=MAX_TOKEN_BYTES, what="status list token")
    verified = _verify_with_any(
        keys, lambda key: cose.verify_sign1(message, key.key, allowed_algs=key.allowed_algs)
    )
    if verified.protected.get(cose.TYP) != CWT_MEDIA_TYPE:
        raise InvalidToken("token typ is not statuslist+cwt", code="status_list_wrong_typ")
    payload = cose.loads_strict(verified.payload, what="status list token payload")
    if not isinstance(payload, Mapping):
        raise InvalidToken("status list CWT payload is not a map", code="status_list_malformed")
    claims = {
        "sub": payload.get(CWT_SUB),
        "iat": payload.get(CWT_IAT),
        "exp": payload.get(CWT_EXP),
        "ttl": payload.get(CWT_TTL),
    }
    if CWT_STATUS_LIST not in payload:
        raise InvalidToken("token has no status_list", code="status_list_malformed")
    return claims, decode_cwt_claim(payload[CWT_STATUS_LIST])


def _verify_with_any(keys: Sequence[IssuerKey], verify: Callable[[IssuerKey], T]) -> T:
    if not keys:
        raise InvalidToken("no trusted key for the status list", code="status_list_no_key")
    alg_refused = True
    for key in keys:
        try:
            return verify(key)
        except CryptoError as exc:
            alg_refused = alg_refused and exc.instance_code.endswith("alg_not_allowed")
    if alg_refused:
        raise InvalidToken("status list alg is not allowed", code="status_list_alg_not_allowed")
    raise InvalidToken("status list signature does not verify", code="status_list_bad_signature")


# --- claims -----------------------------------------------------------------------------


def _check_claims(
    form: TokenForm, claims: dict[str, Any], status_list: StatusList, uri: str, leeway: int
) -> VerifiedStatusList:
    sub, iat, exp, ttl = claims["sub"], claims["iat"], claims["exp"], claims["ttl"]
    if sub != uri:
        raise InvalidToken(
            "status list sub does not match the uri", code="status_list_sub_mismatch"
        )
    if not _is_int(iat):
        raise InvalidToken("status list has no integer iat", code="status_list_malformed")
    if exp is not None and not _is_int(exp):
        raise InvalidToken("status list exp is not an integer", code="status_list_malformed")
    if ttl is not None and (not _is_int(ttl) or ttl <= 0):
        raise InvalidToken(
            "status list ttl is not a positive integer", code="status_list_malformed"
        )
    now = clock.epoch()
    if iat > now + leeway:
        raise TokenNotYetValid("status list issued in the future", code="status_list_not_yet_valid")
    if exp is not None and exp <= now - leeway:
        raise TokenExpired("status list token has expired", code="status_list_expired")
    return VerifiedStatusList(form, sub, iat, exp, ttl, status_list)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
