"""Verifying an OpenID4VP ``vp_token`` against the request it answers (no database).

:func:`verify_presentation` runs, for each presented credential, the named checks

==================  ============================================================
``trust_list``      the issuer is in the trust list and the key is its key
``issuer_signature`` the issuer JWT's signature (allowed ``alg`` only)
``validity_window`` ``exp``/``nbf``/``iat`` against the clock
``holder_binding``  KB-JWT: holder key signature, ``nonce``, ``aud`` = client_id,
                    ``iat`` fresh, ``sd_hash`` over the presentation
``status``          the status list bit (fetched, verified, cached; fail closed)
``dcql``            ``vct`` and the claims satisfy the DCQL credential query
``disclosure``      nothing selectively disclosable beyond the query (over-disclosure)
``rp_permission``   every claim passed on is in the RP's registration and the catalogue
``region``          same-region-only types: the credential's region is the RP's
==================  ============================================================

and then ``credential_sets`` over the whole token. It returns a
:class:`VerifiedPresentation` (only this function can make one) holding only the claims
the RP may see, or raises the failing check's specific error with
``extra["checks"]`` listing every check run so far (``ok`` and ``code``).
Per-format work sits behind :data:`FORMAT_CHECKS` so mdoc can join later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from elicense import clock
from elicense.catalog import Catalog, CredentialType
from elicense.crypto.jwk import thumbprint
from elicense.crypto.trust import TrustList
from elicense.errors import (
    AccessDenied,
    CryptoError,
    ELicenseError,
    InvalidRequest,
    InvalidToken,
    KeyBindingError,
    KeyNotFound,
    NotFound,
    TokenExpired,
    TokenNotYetValid,
    UntrustedIssuer,
)
from elicense.formats import sd_jwt, sd_jwt_vc
from elicense.formats.sd_jwt_vc import StatusReference, VerifiedCredential
from elicense.status.token_status_list import Status
from elicense.verification import dcql, policy
from elicense.verification.dcql import ClaimPath
from elicense.verification.policy import Grant

_MINT = object()
_LIBRARY_ORDER = ("trust_list", "issuer_signature", "validity_window", "holder_binding")


class StatusChecker(Protocol):
    def check(self, issuer: str, reference: StatusReference) -> Status: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Expectation:
    """What the request being answered demands."""

    request_id: str
    client_id: str
    nonce: str
    purpose: str
    sector: str
    region: str
    grants: tuple[Grant, ...]
    query: dcql.DcqlQuery


@dataclasses.dataclass(frozen=True, slots=True)
class Verifier:
    """The verifier's configuration: trust list, catalogue, status source, tolerances."""

    trust: TrustList
    catalog: Catalog
    status: StatusChecker
    kb_max_age: int = 300
    clock_skew: int = 60


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    credential: str | None = None
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "ok": self.ok}
        if self.credential is not None:
            out["credential"] = self.credential
        if self.code is not None:
            out["code"] = self.code
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class PresentedCredential:
    query_id: str
    credential_type: str
    vct: str
    issuer: str
    claims: Mapping[str, Any]
    claim_names: tuple[str, ...]
    holder_thumbprint: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    """A presentation that passed every check. Only :func:`verify_presentation` makes one."""

    request_id: str
    client_id: str
    purpose: str
    credentials: tuple[PresentedCredential, ...]
    checks: tuple[Check, ...]
    verified_at: int
    _mint: object = dataclasses.field(repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self._mint is not _MINT:
            raise TypeError("VerifiedPresentation can only be made by verify_presentation()")

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "outcome": "verified",
            "client_id": self.client_id,
            "purpose": self.purpose,
            "verified_at": self.verified_at,
            "credentials": [
                {
                    "id": c.query_id,
                    "credential_type": c.credential_type,
                    "issuer": c.issuer,
                    "claims": dict(c.claims),
                }
                for c in self.credentials
            ],
            "checks": [c.to_json() for c in self.checks],
        }


class _Run:
    """Records named checks; a failing step is recorded and its error re-raised."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def step(self, name: str, credential: str | None, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except ELicenseError as exc:
            self.fail(exc, name, credential)
        self.checks.append(Check(name, True, credential))
        return result

    def fail(self, exc: ELicenseError, name: str, credential: str | None) -> None:
        self.checks.append(Check(name, False, credential, exc.instance_code))
        exc.extra["checks"] = [c.to_json() for c in self.checks]
        raise exc


def verify_presentation(
    vp_token: object, expect: Expectation, verifier: Verifier
) -> VerifiedPresentation:
    """Verify ``vp_token`` (``{query id: [presentation]}``) for ``expect``."""
    run = _Run()
    tokens = run.step("vp_token", None, lambda: _parse_vp_token(vp_token, expect.query))
    presented = []
    for query_id, presentation in tokens:
        query = expect.query.credential(query_id)
        presented.append(_one(run, presentation, query, expect, verifier))
    run.step(
        "credential_sets", None, lambda: dcql.check_credential_sets(expect.query, dict(tokens))
    )
    return VerifiedPresentation(
        request_id=expect.request_id,
        client_id=expect.client_id,
        purpose=expect.purpose,
        credentials=tuple(presented),
        checks=tuple(run.checks),
        verified_at=clock.epoch(),
        _mint=_MINT,
    )


def _parse_vp_token(value: object, query: dcql.DcqlQuery) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidRequest("vp_token must be a JSON object", code="vp_token_malformed")
    out: list[tuple[str, str]] = []
    for query_id, items in value.items():
        credential = query.credential(query_id)
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise InvalidRequest("vp_token values are lists of strings", code="vp_token_malformed")
        if len(items) > 1 and not credential.multiple:
            raise InvalidRequest(f"{query_id} allows one presentation", code="vp_token_malformed")
        out.extend((query_id, item) for item in items)
    return out


def _one(
    run: _Run,
    presentation: str,
    query: dcql.CredentialQuery,
    expect: Expectation,
    verifier: Verifier,
) -> PresentedCredential:
    qid = query.id
    credential = _library_checks(run, presentation, query, expect, verifier)
    run.step("status", qid, lambda: _status(verifier.status, credential))
    claims = credential.subject_claims()
    matched = run.step("dcql", qid, lambda: dcql.match_credential(query, credential.vct, claims))
    ctype = verifier.catalog.by_vct(credential.vct)
    kept = run.step("disclosure", qid, lambda: _kept_paths(ctype, claims, matched))
    run.step("rp_permission", qid, lambda: _permission(ctype, kept, expect))
    run.step("region", qid, lambda: _region(ctype, credential.claims, expect.region))
    holder = credential.holder_jwk
    return PresentedCredential(
        query_id=qid,
        credential_type=ctype.id,
        vct=credential.vct,
        issuer=credential.issuer,
        claims=_restrict(claims, kept),
        claim_names=tuple(sorted(policy.claim_name(p) for p in kept)),
        holder_thumbprint=thumbprint(holder) if holder is not None else None,
    )


def _library_checks(
    run: _Run,
    presentation: str,
    query: dcql.CredentialQuery,
    expect: Expectation,
    verifier: Verifier,
) -> VerifiedCredential:
    credential_policy = sd_jwt_vc.CredentialPolicy(
        key_binding=sd_jwt.KeyBindingPolicy(
            nonce=expect.nonce, audience=expect.client_id, max_age=verifier.kb_max_age
        ),
        accepted_vcts=frozenset(query.vct_values),
        clock_skew=verifier.clock_skew,
    )
    try:
        credential = sd_jwt_vc.verify_credential(
            presentation, trust=verifier.trust, policy=credential_policy
        )
    except ELicenseError as exc:
        failed = _failed_check(exc)
        if failed in _LIBRARY_ORDER:
            for name in _LIBRARY_ORDER[: _LIBRARY_ORDER.index(failed)]:
                run.checks.append(Check(name, True, query.id))
        run.fail(exc, failed, query.id)
        raise  # pragma: no cover - fail() raises
    for name in _LIBRARY_ORDER:
        run.checks.append(Check(name, True, query.id))
    return credential


def _failed_check(exc: ELicenseError) -> str:
    if isinstance(exc, KeyBindingError):
        return "holder_binding"
    if isinstance(exc, UntrustedIssuer | KeyNotFound):
        return "trust_list"
    if isinstance(exc, TokenExpired | TokenNotYetValid):
        return "validity_window"
    if isinstance(exc, CryptoError):
        return "issuer_signature"
    if exc.instance_code == "vc_type_not_accepted":
        return "dcql"
    return "credential_format"


def _status(checker: StatusChecker, credential: VerifiedCredential) -> Status:
    if credential.status is None:
        raise InvalidToken("credential has no status reference", code="status_reference_missing")
    return checker.check(credential.issuer, credential.status)


def _kept_paths(
    ctype: CredentialType, claims: Mapping[str, Any], requested: Sequence[ClaimPath]
) -> tuple[ClaimPath, ...]:
    """Leaf paths to pass on; an unrequested selectively disclosable one is refused."""
    kept: list[ClaimPath] = []
    for leaf in dcql.leaf_paths(claims):
        if any(dcql.covers(r, leaf) for r in requested):
            kept.append(leaf)
        elif _selectively_disclosable(ctype, leaf):
            raise AccessDenied(
                "the presentation discloses claims that were not requested",
                code="over_disclosure",
            )
    return tuple(kept)


def _selectively_disclosable(ctype: CredentialType, path: ClaimPath) -> bool:
    try:
        return ctype.claim(policy.claim_name(path)).selectively_disclosable
    except NotFound:
        return True


def _permission(ctype: CredentialType, kept: Sequence[ClaimPath], expect: Expectation) -> None:
    for path in kept:
        name = policy.claim_name(path)
        allowed = policy.permitted(expect.grants, ctype.id, expect.purpose, name)
        if not allowed or not policy.catalog_allows(ctype, expect.sector, expect.purpose, name):
            raise AccessDenied(f"RP may not receive {ctype.id}.{name}", code="claims_not_permitted")


def _region(ctype: CredentialType, claims: Mapping[str, Any], rp_region: str) -> None:
    rule = ctype.policy
    if not rule.same_region_only:
        return
    value = claims.get(rule.region_claim) if rule.region_claim else None
    if not policy.region_covers(rp_region, value):
        raise AccessDenied(
            f"{ctype.id} is accepted only by verifiers of its issuing region",
            code="region_mismatch",
        )


def _restrict(claims: Mapping[str, Any], kept: Sequence[ClaimPath]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in kept:
        values = dcql.select(claims, path)
        if not values or not all(isinstance(s, str) for s in path):
            continue
        target = out
        for step in path[:-1]:
            assert isinstance(step, str)
            target = target.setdefault(step, {})
        last = path[-1]
        assert isinstance(last, str)
        target[last] = values[0]
    return out
