"""SD-JWT-based Verifiable Credentials (``typ: dc+sd-jwt``, IETF SD-JWT VC).

:func:`issue_credential` signs a credential of type ``vct`` for a holder key (``cnf``)
with a validity window and an optional status-list reference.
:func:`verify_credential` resolves the issuer key from a
:class:`~elicense.crypto.trust.TrustList`, runs every SD-JWT check (RFC 9901 Section 7)
and the SD-JWT VC rules, and returns a :class:`VerifiedCredential` or raises.

The registered claims ``iss``, ``iat``, ``nbf``, ``exp``, ``cnf``, ``vct``,
``vct#integrity`` and ``status`` are never selectively disclosable: issuing refuses to
hide them and verification rejects a credential that discloses one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from elicense import clock
from elicense.crypto import algorithms
from elicense.crypto.keystore import Signer
from elicense.crypto.limits import DEFAULT_LIMITS, Limits
from elicense.crypto.trust import TrustList
from elicense.errors import InvalidToken, ValidationFailed
from elicense.formats import sd_jwt
from elicense.formats._claim_paths import Step

TYP = "dc+sd-jwt"
#: Claims that carry validity, binding or identity of the credential itself.
NEVER_DISCLOSABLE = frozenset({"iss", "iat", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
_MINT = object()


@dataclasses.dataclass(frozen=True, slots=True)
class StatusReference:
    """Where the credential's revocation/suspension bit lives (Token Status List)."""

    uri: str
    idx: int

    def to_claim(self) -> dict[str, Any]:
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


def issue_credential(
    *,
    signer: Signer,
    issuer: str,
    vct: str,
    claims: Mapping[str, Any],
    selectively_disclosable: Iterable[Iterable[Step]],
    holder_jwk: Mapping[str, Any] | None,
    expires_at: int,
    not_before: int | None = None,
    issued_at: int | None = None,
    status: StatusReference | None = None,
    decoys: int = 0,
    include_x5c: bool = False,
) -> sd_jwt.IssuedSdJwt:
    """Sign an SD-JWT VC. ``claims`` are the subject claims; the registered claims come
    from the keyword arguments and are always in clear text."""
    clash = NEVER_DISCLOSABLE & claims.keys()
    if clash:
        raise ValidationFailed(
            f"claim {sorted(clash)[0]} is set by the issuer", code="vc_claim_reserved"
        )
    sd_paths = [p if type(p) is tuple else tuple(p) for p in selectively_disclosable]
    if any(p and p[0] in NEVER_DISCLOSABLE for p in sd_paths):
        raise ValidationFailed(
            "validity claims cannot be selectively disclosable", code="vc_claim_reserved"
        )
    payload: dict[str, Any] = {"iss": issuer, "vct": vct, "iat": issued_at or clock.epoch()}
    payload |= {"nbf": not_before} if not_before is not None else {}
    payload["exp"] = expires_at
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    if status is not None:
        payload["status"] = status.to_claim()
    payload |= claims
    header: dict[str, Any] = {"typ": TYP}
    if include_x5c and signer.x5c:
        header["x5c"] = list(signer.x5c)
    return sd_jwt.issue(
        payload, signer=signer, selectively_disclosable=sd_paths, header=header, decoys=decoys
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialPolicy:
    """What :func:`verify_credential` demands beyond the trust list; secure by default."""

    key_binding: sd_jwt.KeyBindingPolicy | None = None
    #: Bypasses (named so): accept credentials without ``cnf.jwk`` / without ``exp``.
    unsafe_allow_unbound: bool = False
    unsafe_allow_no_exp: bool = False
    accepted_vcts: frozenset[str] | None = None
    holder_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED
    clock_skew: int = 60
    limits: Limits = DEFAULT_LIMITS
    #: The :meth:`sd_jwt_policy`, made once per (immutable) policy.
    _sd_jwt_policy: sd_jwt.VerificationPolicy | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def sd_jwt_policy(self) -> sd_jwt.VerificationPolicy:
        made = self._sd_jwt_policy
        if made is None:
            made = self._make_sd_jwt_policy()
            object.__setattr__(self, "_sd_jwt_policy", made)
        return made

    def _make_sd_jwt_policy(self) -> sd_jwt.VerificationPolicy:
        return sd_jwt.VerificationPolicy(
            key_binding=self.key_binding,
            holder_algs=self.holder_algs,
            required_claims=frozenset(
                {"iss", "vct", *(() if self.unsafe_allow_no_exp else ("exp",))}
            ),
            expected_typ=TYP,
            clock_skew=self.clock_skew,
            limits=self.limits,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A credential that passed every check. Only :func:`verify_credential` makes one."""

    issuer: str
    vct: str
    claims: Mapping[str, Any]
    holder_jwk: Mapping[str, Any] | None
    status: StatusReference | None
    issued_at: int | None
    expires_at: int | None
    key_binding: sd_jwt.VerifiedKeyBinding | None
    checks: tuple[str, ...]
    _mint: object = dataclasses.field(repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self._mint is not _MINT:
            raise TypeError("VerifiedCredential can only be created by verify_credential()")

    def subject_claims(self) -> dict[str, Any]:
        """The disclosed claims about the holder (registered claims removed)."""
        return {k: v for k, v in self.claims.items() if k not in NEVER_DISCLOSABLE}


def verify_credential(
    token: str | bytes, *, trust: TrustList, policy: CredentialPolicy | None = None
) -> VerifiedCredential:
    """Verify an SD-JWT VC presentation or issuance against ``trust``."""
    policy = policy or CredentialPolicy()
    verified = sd_jwt.verify(token, issuer_key=trust.resolve, policy=policy.sd_jwt_policy())
    claims = verified.claims
    hidden = sorted({str(p[0]) for p in verified.disclosed} & NEVER_DISCLOSABLE)
    if hidden:
        raise InvalidToken(
            f"{hidden[0]} must not be selectively disclosed", code="vc_claim_disclosed"
        )
    issuer, vct = claims["iss"], claims["vct"]
    if not isinstance(vct, str) or not isinstance(issuer, str):
        raise InvalidToken("iss and vct must be strings", code="vc_bad_vct")
    if issuer != verified.issuer_key.issuer:
        raise InvalidToken("iss is not the issuer of the key", code="vc_issuer_mismatch")
    if policy.accepted_vcts is not None and vct not in policy.accepted_vcts:
        raise InvalidToken(f"credential type {vct} is not accepted", code="vc_type_not_accepted")
    holder_jwk = _holder_jwk(claims, required=not policy.unsafe_allow_unbound)
    return VerifiedCredential(
        issuer=issuer,
        vct=vct,
        claims=claims,
        holder_jwk=holder_jwk,
        status=_status(claims.get("status")),
        issued_at=_int_or_none(claims.get("iat")),
        expires_at=_int_or_none(claims.get("exp")),
        key_binding=verified.key_binding,
        checks=(*verified.checks, "vc_rules"),
        _mint=_MINT,
    )


def _holder_jwk(claims: Mapping[str, Any], *, required: bool) -> Mapping[str, Any] | None:
    cnf = claims.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, Mapping) else None
    if jwk is None and required:
        raise InvalidToken("credential has no cnf.jwk holder key", code="vc_missing_cnf")
    if jwk is not None and not isinstance(jwk, Mapping):
        raise InvalidToken("cnf.jwk is not a JWK", code="vc_bad_cnf")
    return jwk


def _status(value: object) -> StatusReference | None:
    if value is None:
        return None
    ref = value.get("status_list") if isinstance(value, Mapping) else None
    idx = ref.get("idx") if isinstance(ref, Mapping) else None
    uri = ref.get("uri") if isinstance(ref, Mapping) else None
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str):
        raise InvalidToken("status is not a status_list reference", code="vc_bad_status")
    return StatusReference(uri=uri, idx=idx)


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
