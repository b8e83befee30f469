"""Selective Disclosure for JWTs (SD-JWT, RFC 9901): issue, present, verify.

* :func:`issue` makes an SD-JWT from plain claims and the claim paths that are to be
  selectively disclosable (object properties and array elements, nested at any depth),
  with optional decoy digests.
* :func:`present` is the Holder: it keeps the Disclosures needed for the requested claim
  paths and can append a Key Binding JWT (``typ: kb+jwt``) over ``nonce``, ``aud``,
  ``iat`` and ``sd_hash``.
* :func:`verify` is the Verifier (Section 7.1 and 7.3): it raises a specific
  :mod:`elicense.errors` error for every failed rule and otherwise returns a
  :class:`VerifiedSdJwt`, the only way to obtain processed claims.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from elicense import clock
from elicense.crypto import _json, algorithms, jws
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.keystore import Signer
from elicense.crypto.limits import DEFAULT_LIMITS, Limits, check_size
from elicense.crypto.trust import IssuerKey, KeyResolver
from elicense.errors import (
    ConfigError,
    CryptoError,
    InvalidDisclosure,
    InvalidSignature,
    InvalidToken,
    KeyBindingError,
    TokenExpired,
    TokenNotYetValid,
    UnsupportedAlgorithm,
    ValidationFailed,
)
from elicense.formats import _claim_paths as paths
from elicense.formats._claim_paths import ClaimPath, Step
from elicense.formats._disclosures import (
    DEFAULT_SD_ALG,
    ELLIPSIS,
    HASH_ALGORITHMS,
    SD,
    SD_ALG,
    Disclosure,
    Unpacker,
    decoy_digest,
    digest,
    index_disclosures,
    new_salts,
)

__all__ = [
    "DEFAULT_SD_ALG",
    "KB_JWT_TYP",
    "MAX_CLOCK_SKEW",
    "ClaimPath",
    "Disclosure",
    "IssuedSdJwt",
    "IssuerKey",
    "KeyBindingPolicy",
    "KeyBindingRequest",
    "KeyResolver",
    "MemoryReplayGuard",
    "ReplayGuard",
    "SdJwtParts",
    "VerificationPolicy",
    "VerifiedKeyBinding",
    "VerifiedSdJwt",
    "issue",
    "present",
    "split",
    "verify",
]

KB_JWT_TYP = "kb+jwt"
SEPARATOR = "~"
#: Upper bound for any configured clock skew, in seconds.
MAX_CLOCK_SKEW = 300
_MINT = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})
_NOTHING_REQUIRED: frozenset[str] = frozenset()
_ANY_SD_ALG = frozenset(HASH_ALGORITHMS)


# --- issuance -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedSdJwt:
    """An Issuer-signed JWT with every Disclosure, as handed to the Holder."""

    jwt: str
    disclosures: tuple[Disclosure, ...]

    def serialize(self) -> str:
        """``<JWT>~<D1>~...~<Dn>~`` (RFC 9901 Section 4)."""
        return SEPARATOR.join((self.jwt, *(d.encoded for d in self.disclosures), ""))


def issue(
    claims: Mapping[str, Any],
    *,
    signer: Signer,
    selectively_disclosable: Iterable[Iterable[Step]] = (),
    header: Mapping[str, Any] | None = None,
    sd_alg: str = DEFAULT_SD_ALG,
    decoys: int = 0,
) -> IssuedSdJwt:
    """Sign ``claims`` as an SD-JWT where each path in ``selectively_disclosable`` is
    hidden behind a digest; a path below another one is disclosed recursively.
    ``decoys`` digests are added to every ``_sd`` array and every array with hidden
    elements.
    """
    if sd_alg not in HASH_ALGORITHMS:
        raise UnsupportedAlgorithm(f"_sd_alg {sd_alg} is not supported", code="sd_alg_unsupported")
    sd_paths = _issuable_paths(claims, selectively_disclosable)
    builder = _Concealer(paths.PathSet(sd_paths), sd_alg, max(0, decoys), new_salts(len(sd_paths)))
    payload = builder.object(claims, ())
    if builder.disclosures:
        payload[SD_ALG] = sd_alg
    token = jws.sign_compact(header or {}, _json.dumps(payload), signer)
    return IssuedSdJwt(token, tuple(builder.disclosures))


def _issuable_paths(
    claims: Mapping[str, Any], requested: Iterable[Iterable[Step]]
) -> tuple[ClaimPath, ...]:
    try:
        sd_paths = paths.normalize(requested)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="claim_path_invalid") from exc
    keys = claims.keys()
    for path in sd_paths:
        if len(path) == 1 and type(path[0]) is str and path[0] in keys:
            continue
        if not _exists(claims, path):
            raise ValidationFailed(
                f"claim path {paths.render(path)} is not in the claims", code="claim_path_not_found"
            )
    return sd_paths


def _exists(value: Any, path: ClaimPath) -> bool:
    if len(path) == 1 and type(path[0]) is str:
        return isinstance(value, Mapping) and path[0] in value
    for depth, step in enumerate(path):
        in_object = type(step) is str and isinstance(value, Mapping) and step in value
        in_array = type(step) is int and isinstance(value, list) and 0 <= step < len(value)
        if in_object or in_array:
            value = value[step]
        elif step is None and isinstance(value, list):
            rest = path[depth + 1 :]
            return bool(value) and all(_exists(v, rest) for v in value)
        else:
            return False
    return True


@dataclasses.dataclass(slots=True)
class _Concealer:
    sd_paths: paths.PathSet
    sd_alg: str
    decoys: int
    #: Salts drawn for this issuance (one CSPRNG read); each is used once.
    salts: list[str]
    disclosures: list[Disclosure] = dataclasses.field(default_factory=list)

    def value(self, value: Any, path: ClaimPath) -> Any:
        if type(value) in _SCALARS:
            return value
        if isinstance(value, list):
            return self.array(value, path)
        if isinstance(value, Mapping):
            return self.object(value, path)
        return value

    def conceal(self, name: str | None, value: Any) -> str:
        if not self.salts:
            self.salts = new_salts(8)
        disclosure = Disclosure.create(name, value, self.salts.pop())
        self.disclosures.append(disclosure)
        return digest(self.sd_alg, disclosure.encoded)

    def object(self, obj: Mapping[str, Any], path: ClaimPath) -> dict[str, Any]:
        if SD in obj or ELLIPSIS in obj or (not path and SD_ALG in obj):
            raise ValidationFailed("claims use a reserved SD-JWT name", code="claim_name_reserved")
        out: dict[str, Any] = {}
        digests: list[str] = []
        hidden = self.sd_paths.selects
        for name, child in obj.items():
            child_path = (*path, name)
            if type(child) not in _SCALARS:
                child = self.value(child, child_path)
            if hidden(child_path):
                digests.append(self.conceal(name, child))
            else:
                out[name] = child
        if digests:
            digests.extend(decoy_digest(self.sd_alg) for _ in range(self.decoys))
            out[SD] = sorted(digests)
        return out

    def array(self, array: list[Any], path: ClaimPath) -> list[Any]:
        out: list[Any] = []
        hidden = self.sd_paths.selects
        for index, child in enumerate(array):
            child_path = (*path, index)
            inner = self.value(child, child_path)
            out.append({ELLIPSIS: self.conceal(None, inner)} if hidden(child_path) else inner)
        if self.decoys and any(isinstance(e, dict) and ELLIPSIS in e for e in out):
            for _ in range(self.decoys):
                out.insert(secrets.randbelow(len(out) + 1), {ELLIPSIS: decoy_digest(self.sd_alg)})
        return out


# --- parsing --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SdJwtParts:
    """A received SD-JWT split into its parts; nothing here is verified."""

    issuer_jwt: jws.UnverifiedJws
    disclosures: tuple[Disclosure, ...]
    kb_jwt: str | None
    sd_hash_input: str


def split(token: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> SdJwtParts:
    """Split ``<JWT>~<D1>~...~<Dn>~[<KB-JWT>]``, checking every size before decoding."""
    text = _ascii(token, limits)
    if SEPARATOR not in text:
        raise InvalidToken("not an SD-JWT: no '~' separator", code="sd_jwt_malformed")
    parts = text.split(SEPARATOR)
    if len(parts) - 2 > limits.max_disclosures:
        raise InvalidToken("too many disclosures", code="sd_jwt_too_many_disclosures")
    encoded = parts[1:-1]
    if "" in encoded:
        raise InvalidDisclosure("an empty disclosure", code="disclosure_empty")
    if encoded and max(map(len, encoded)) > limits.max_disclosure_bytes:
        for item in encoded:
            check_size(len(item), limits.max_disclosure_bytes, "disclosure", "disclosure_too_large")
    kb_jwt = parts[-1] or None
    if kb_jwt is not None:
        check_size(len(kb_jwt), limits.max_kb_jwt_bytes, "KB-JWT", "kb_jwt_too_large")
    return SdJwtParts(
        issuer_jwt=jws.decode_compact(parts[0], limits=limits, what="issuer JWT"),
        disclosures=tuple([Disclosure.decode(d, limits) for d in encoded]),
        kb_jwt=kb_jwt,
        sd_hash_input=text[: text.rfind(SEPARATOR) + 1],
    )


def _ascii(token: str | bytes, limits: Limits) -> str:
    check_size(len(token), limits.max_token_bytes, "SD-JWT", "token_too_large")
    try:
        if isinstance(token, bytes):
            return token.decode("ascii")
        if not token.isascii():
            token.encode("ascii")  # raises the UnicodeError handled below
        return token
    except UnicodeError as exc:
        raise InvalidToken("SD-JWT is not ASCII", code="sd_jwt_malformed") from exc


# --- presentation (Holder) -------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class KeyBindingRequest:
    """What the Holder needs to bind a presentation: its key and the Verifier's
    ``nonce`` and ``aud``."""

    signer: Signer
    nonce: str
    audience: str
    iat: int | None = None


def present(
    sd_jwt: str,
    disclose: Iterable[Iterable[Step]],
    *,
    key_binding: KeyBindingRequest | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Keep only the Disclosures needed to reveal the claims at ``disclose`` (and
    everything below them), optionally followed by a Key Binding JWT.
    """
    parts = split(sd_jwt, limits=limits)
    if parts.kb_jwt is not None:
        raise ValidationFailed("cannot present an SD-JWT that is already bound", code="kb_present")
    payload = _json.loads_object(parts.issuer_jwt.payload, what="issuer JWT payload")
    sd_alg = _sd_alg(payload, _ANY_SD_ALG)
    try:
        wanted = paths.normalize(disclose)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="claim_path_invalid") from exc
    selector = _Selector(index_disclosures(parts.disclosures, sd_alg), paths.PathSet(wanted))
    selector.object(payload, ())
    missing = [p for p in wanted if p not in selector.found]
    if missing:
        raise ValidationFailed(
            f"claim path {paths.render(missing[0])} is not in the credential",
            code="claim_path_not_found",
        )
    chosen = [d.encoded for d in parts.disclosures if d.encoded in selector.chosen]
    jwt = parts.sd_hash_input[: parts.sd_hash_input.index(SEPARATOR)]
    presentation = SEPARATOR.join((jwt, *chosen, ""))
    if key_binding is None:
        return presentation
    return presentation + key_binding_jwt(presentation, key_binding, sd_alg)


def key_binding_jwt(presentation: str, request: KeyBindingRequest, sd_alg: str) -> str:
    """A KB-JWT over ``presentation`` (``<JWT>~<D1>~...~<Dn>~``), RFC 9901 Section 4.3."""
    payload = {
        "iat": clock.epoch() if request.iat is None else request.iat,
        "aud": request.audience,
        "nonce": request.nonce,
        "sd_hash": digest(sd_alg, presentation),
    }
    return jws.sign_compact(
        {"typ": KB_JWT_TYP}, _json.dumps(payload), request.signer, add_kid=False
    )


@dataclasses.dataclass(slots=True)
class _Selector:
    by_digest: dict[str, Disclosure]
    wanted: paths.PathSet
    chosen: set[str] = dataclasses.field(default_factory=set)
    found: set[ClaimPath] = dataclasses.field(default_factory=set)

    def visit(self, value: Any, path: ClaimPath, disclosure: Disclosure | None) -> None:
        # Nothing at, above or below an unwanted path is wanted: no Disclosure in it is
        # needed and no pattern is found there.
        if self.wanted.wants(path):
            self.take(value, path, disclosure)

    def take(self, value: Any, path: ClaimPath, disclosure: Disclosure | None) -> None:
        """Visit a ``path`` that is wanted (selected, or above or below a selected one)."""
        wanted = self.wanted
        if wanted.selects(path):
            self.found.update(wanted.matching(path))
        if disclosure is not None:
            self.chosen.add(disclosure.encoded)
        if type(value) is dict:
            self.object(value, path)
        elif type(value) is list:
            self.array(value, path)

    def object(self, obj: dict[str, Any], path: ClaimPath) -> None:
        wanted = self.wanted
        by_digest = self.by_digest
        steps = wanted.wanted_child_steps(path)
        if steps is not None:
            # Only the children named in ``steps`` are wanted; the others are skipped
            # without building their paths (visiting them would do nothing).
            for name, value in obj.items():
                if name in steps and name != SD:
                    self.take(value, (*path, name), None)
            for item in obj.get(SD, ()):
                found = by_digest.get(item) if type(item) is str else None
                if found is not None and found.name is not None and found.name in steps:
                    self.take(found.value, (*path, found.name), found)
            return
        selects = wanted.selects
        for name, value in obj.items():
            if name == SD:
                continue
            child = (*path, name)
            if type(value) not in _SCALARS:
                self.visit(value, child, None)
            elif selects(child):
                self.found.update(wanted.matching(child))
        for item in obj.get(SD, ()):
            found = by_digest.get(item) if type(item) is str else None
            if found is not None and found.name is not None:
                self.visit(found.value, (*path, found.name), found)

    def array(self, array: list[Any], path: ClaimPath) -> None:
        index = 0
        for element in array:
            found: Disclosure | None = None
            if isinstance(element, dict) and ELLIPSIS in element:
                found = self.by_digest.get(element[ELLIPSIS])
                if found is None or found.name is not None:
                    continue
            self.visit(found.value if found else element, (*path, index), found)
            index += 1


# --- verification (Verifier) ---------------------------------------------------------


class ReplayGuard(Protocol):
    """Remembers KB-JWT nonces so that each is accepted once."""

    def consume(self, nonce: str, audience: str) -> None:
        """Record ``nonce``; raise :class:`KeyBindingError` if it was seen before."""
        ...


class MemoryReplayGuard:
    """A :class:`ReplayGuard` for one process (tests, CLI); services use their store."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: dict[tuple[str, str], None] = {}
        self._capacity = capacity

    def consume(self, nonce: str, audience: str) -> None:
        if (nonce, audience) in self._seen:
            raise KeyBindingError("KB-JWT nonce was already used", code="kb_jwt_nonce_reused")
        self._seen[(nonce, audience)] = None
        if len(self._seen) > self._capacity:
            del self._seen[next(iter(self._seen))]


@dataclasses.dataclass(frozen=True, slots=True)
class KeyBindingPolicy:
    """Key Binding is required and must carry exactly this ``nonce`` and ``aud``."""

    nonce: str
    audience: str
    max_age: int = 300
    replay_guard: ReplayGuard | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """How strict :func:`verify` is. The defaults are the secure ones."""

    key_binding: KeyBindingPolicy | None = None
    holder_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED
    sd_algs: frozenset[str] = frozenset({DEFAULT_SD_ALG})
    required_claims: frozenset[str] = frozenset({"exp"})
    expected_typ: str | None = None
    clock_skew: int = 60
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if not 0 <= self.clock_skew <= MAX_CLOCK_SKEW:
            raise ConfigError(f"clock_skew must be between 0 and {MAX_CLOCK_SKEW} seconds")
        algorithms.allowed_set(self.holder_algs)
        if not self.sd_algs <= HASH_ALGORITHMS.keys():
            raise ConfigError("sd_algs contains an unsupported hash algorithm")


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedKeyBinding:
    """The checked contents of a Key Binding JWT."""

    nonce: str
    audience: str
    issued_at: int
    holder_jwk: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """Claims of an SD-JWT that passed every check of RFC 9901 Section 7.

    Only :func:`verify` can make one.
    """

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    disclosed: tuple[ClaimPath, ...]
    issuer_key: IssuerKey
    key_binding: VerifiedKeyBinding | None
    checks: tuple[str, ...]
    _mint: object = dataclasses.field(repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self._mint is not _MINT:
            raise TypeError("VerifiedSdJwt can only be created by sd_jwt.verify()")


def verify(
    token: str | bytes, *, issuer_key: KeyResolver, policy: VerificationPolicy
) -> VerifiedSdJwt:
    """Verify an SD-JWT (with or without KB-JWT) and return its processed claims."""
    checks: list[str] = []
    parts = split(token, limits=policy.limits)
    checks.append("size_limits")
    header = parts.issuer_jwt.header
    if policy.expected_typ is not None and header.get("typ") != policy.expected_typ:
        raise InvalidToken(f"issuer JWT typ is not {policy.expected_typ}", code="jws_wrong_typ")
    if policy.key_binding is not None and parts.kb_jwt is None:
        raise KeyBindingError("key binding is required but absent", code="kb_jwt_missing")
    unverified = _json.loads_object(parts.issuer_jwt.payload, what="issuer JWT payload")
    resolved = issuer_key(header, unverified)
    checks.append("issuer_key_trusted")
    jws.verify(parts.issuer_jwt, resolved.key, allowed_algs=resolved.allowed_algs)
    checks.append("issuer_signature")
    sd_alg = _sd_alg(unverified, policy.sd_algs)
    unpacker = Unpacker(index_disclosures(parts.disclosures, sd_alg), policy.limits.max_depth)
    claims = unpacker.run(unverified)
    checks.append("disclosures")
    check_validity(claims, policy.required_claims, policy.clock_skew)
    checks.append("validity_period")
    binding = None
    if parts.kb_jwt is not None:
        binding = _verify_kb(parts, claims, sd_alg, policy)
        checks.append("key_binding")
    return VerifiedSdJwt(
        header=header,
        claims=claims,
        disclosed=tuple(unpacker.disclosed),
        issuer_key=resolved,
        key_binding=binding,
        checks=tuple(checks),
        _mint=_MINT,
    )


def _sd_alg(payload: Mapping[str, Any], allowed: frozenset[str]) -> str:
    sd_alg = payload.get(SD_ALG, DEFAULT_SD_ALG)
    if not isinstance(sd_alg, str) or sd_alg not in allowed or sd_alg not in HASH_ALGORITHMS:
        raise InvalidToken(f"_sd_alg {sd_alg!r} is not supported", code="sd_jwt_unknown_sd_alg")
    return sd_alg


def check_validity(claims: Mapping[str, Any], required: frozenset[str], skew: int) -> None:
    """``exp``/``nbf``/``iat`` against the clock with ``skew`` seconds of tolerance."""
    if not claims.keys() >= required:
        for name in sorted(required):
            if name not in claims:
                raise InvalidToken(f"required claim {name} is missing", code=f"missing_{name}")
    now = clock.epoch()
    exp, nbf, iat = (
        _time_claim(claims, "exp"),
        _time_claim(claims, "nbf"),
        _time_claim(claims, "iat"),
    )
    if exp is not None and now - skew >= exp:
        raise TokenExpired("the credential has expired")
    if nbf is not None and now + skew < nbf:
        raise TokenNotYetValid("the credential is not yet valid")
    if iat is not None and now + skew < iat:
        raise TokenNotYetValid("the credential was issued in the future", code="iat_in_future")


def _time_claim(claims: Mapping[str, Any], name: str) -> int | float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} is not a NumericDate", code=f"bad_{name}")
    return value


def _verify_kb(
    parts: SdJwtParts, claims: Mapping[str, Any], sd_alg: str, policy: VerificationPolicy
) -> VerifiedKeyBinding:
    assert parts.kb_jwt is not None
    holder_jwk = _holder_jwk(claims)
    kb = jws.decode_compact(parts.kb_jwt, limits=policy.limits, what="KB-JWT")
    try:
        holder_key = load_public_jwk(holder_jwk)
    except CryptoError as exc:
        raise KeyBindingError("cnf.jwk is not a usable key", code="kb_holder_key_invalid") from exc
    try:
        jws.verify(kb, holder_key, allowed_algs=policy.holder_algs)
    except InvalidSignature as exc:
        raise KeyBindingError(
            "KB-JWT signature does not verify", code="kb_jwt_bad_signature"
        ) from exc
    if kb.header.get("typ") != KB_JWT_TYP:
        raise KeyBindingError("KB-JWT typ is not kb+jwt", code="kb_jwt_wrong_typ")
    payload = _json.loads_object(kb.payload, what="KB-JWT payload")
    issued_at = _kb_iat(payload, policy)
    if not hmac.compare_digest(
        str(payload.get("sd_hash", "")).encode("utf-8"),
        digest(sd_alg, parts.sd_hash_input).encode("ascii"),
    ):
        raise KeyBindingError("KB-JWT sd_hash does not match", code="kb_jwt_wrong_sd_hash")
    check_validity(payload, _NOTHING_REQUIRED, policy.clock_skew)
    nonce, audience = payload.get("nonce"), payload.get("aud")
    if not isinstance(nonce, str) or not isinstance(audience, str):
        raise KeyBindingError("KB-JWT lacks nonce or aud", code="kb_jwt_malformed")
    expected = policy.key_binding
    if expected is not None:
        _check_binding(nonce, audience, expected)
    return VerifiedKeyBinding(nonce, audience, issued_at, holder_jwk)


def _holder_jwk(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    cnf = claims.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, Mapping) else None
    if not isinstance(jwk, Mapping):
        raise KeyBindingError("the SD-JWT has no cnf.jwk holder key", code="kb_no_holder_key")
    return jwk


def _kb_iat(payload: Mapping[str, Any], policy: VerificationPolicy) -> int:
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int):
        raise KeyBindingError("KB-JWT iat is missing", code="kb_jwt_malformed")
    now = clock.epoch()
    max_age = policy.key_binding.max_age if policy.key_binding else 300
    if iat > now + policy.clock_skew:
        raise KeyBindingError("KB-JWT iat is in the future", code="kb_jwt_iat_in_future")
    if iat < now - max_age - policy.clock_skew:
        raise KeyBindingError("KB-JWT is too old", code="kb_jwt_iat_too_old")
    return iat


def _check_binding(nonce: str, audience: str, expected: KeyBindingPolicy) -> None:
    if not hmac.compare_digest(nonce.encode(), expected.nonce.encode()):
        raise KeyBindingError("KB-JWT nonce does not match", code="kb_jwt_wrong_nonce")
    if audience != expected.audience:
        raise KeyBindingError("KB-JWT aud does not match", code="kb_jwt_wrong_aud")
    if expected.replay_guard is not None:
        expected.replay_guard.consume(nonce, audience)
