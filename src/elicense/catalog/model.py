"""Credential types as typed, frozen values (built by :mod:`elicense.catalog.loader`).

A :class:`CredentialType` says everything issuance and verification need to know about
one kind of e-license: its ``vct``, formats, display texts, issuing authority and key,
validity, the registry record it derives from, its claims, the events that revoke it and
which relying-party sectors may ask for which claims. Nothing here touches a database.

Claim paths are dotted names (``"spouse.name"``); naming an object claim
(``"spouse"``) in a policy covers every claim inside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Mapping

from elicense.errors import Forbidden, NotFound

LOCALES = ("zh-CN", "en")


class ClaimType(enum.StrEnum):
    STRING = "string"
    DATE = "date"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    IMAGE = "image"
    OBJECT = "object"


class SourceKind(enum.StrEnum):
    """The registry record kind a credential type derives from."""

    MARRIAGE = "marriage"
    PERSON = "person"
    HEALTH_ENROLLMENT = "health_enrollment"
    TRAVEL_PERMIT = "travel_permit"


@dataclasses.dataclass(frozen=True, slots=True)
class LocalizedText:
    """A text in every supported locale (zh-CN and en)."""

    zh_cn: str
    en: str

    def get(self, locale: str) -> str:
        """The text for ``locale`` (``zh-CN``/``zh`` or anything else → English)."""
        return self.zh_cn if locale.lower().startswith("zh") else self.en

    def as_dict(self) -> dict[str, str]:
        return {"zh-CN": self.zh_cn, "en": self.en}


@dataclasses.dataclass(frozen=True, slots=True)
class Display:
    name: LocalizedText
    description: LocalizedText


@dataclasses.dataclass(frozen=True, slots=True)
class Authority:
    """The issuing authority and the logical name of the key it signs with."""

    id: str
    name: LocalizedText
    signing_key: str


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """One claim; ``claims`` holds the members of an ``object`` claim."""

    name: str
    path: str
    type: ClaimType
    selectively_disclosable: bool
    validity: bool
    required: bool
    label: LocalizedText
    source: str | None
    claims: tuple[Claim, ...] = ()

    def walk(self) -> Iterator[Claim]:
        """This claim and every claim nested in it, depth first."""
        yield self
        for child in self.claims:
            yield from child.walk()


@dataclasses.dataclass(frozen=True, slots=True)
class RevocationTrigger:
    """An outbox event that revokes the credential; ``when_changed`` narrows updates."""

    event: str
    when_changed: frozenset[str] = frozenset()

    def matches(self, event: str, changed: Iterable[str] = ()) -> bool:
        if event != self.event:
            return False
        return not self.when_changed or bool(self.when_changed & set(changed))


@dataclasses.dataclass(frozen=True, slots=True)
class AccessRule:
    """Verifiers of ``sector`` (for ``purpose``, or any purpose when None) may ask ``claims``."""

    sector: str
    purpose: str | None
    claims: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """Which relying parties may request which claims (deny unless a rule allows)."""

    same_region_only: bool
    region_claim: str | None
    rules: tuple[AccessRule, ...]

    def allowed_claims(self, sector: str, purpose: str | None = None) -> frozenset[str]:
        """Claim paths that ``sector`` may request for ``purpose`` (empty: none)."""
        allowed: set[str] = set()
        for rule in self.rules:
            if rule.sector == sector and rule.purpose in (None, purpose):
                allowed |= rule.claims
        return frozenset(allowed)

    def permits(self, sector: str, purpose: str | None, paths: Iterable[str]) -> bool:
        allowed = self.allowed_claims(sector, purpose)
        return all(_covered(path, allowed) for path in paths)


def _covered(path: str, allowed: frozenset[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in allowed for n in range(1, len(parts) + 1))


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialType:
    id: str
    vct: str
    formats: tuple[str, ...]
    display: Display
    authority: Authority
    validity: dt.timedelta
    source: SourceKind
    claims: tuple[Claim, ...]
    revoked_by: tuple[RevocationTrigger, ...]
    policy: Policy

    def all_claims(self) -> Iterator[Claim]:
        """Every claim, nested ones included, depth first."""
        for claim in self.claims:
            yield from claim.walk()

    def claim(self, path: str) -> Claim:
        """The claim at dotted ``path``; raises :class:`NotFound` (``unknown_claim``)."""
        for claim in self.all_claims():
            if claim.path == path:
                return claim
        raise NotFound(f"{self.id} has no claim {path!r}", code="unknown_claim")

    def is_revoked_by(self, event: str, changed: Iterable[str] = ()) -> bool:
        """True when outbox ``event`` (with ``changed`` fields, for updates) revokes it."""
        changed = tuple(changed)
        return any(trigger.matches(event, changed) for trigger in self.revoked_by)

    def check_request(self, sector: str, purpose: str | None, paths: Iterable[str]) -> None:
        """Raise :class:`Forbidden` (``claims_not_permitted``) unless policy allows ``paths``."""
        paths = tuple(paths)
        if not self.policy.permits(sector, purpose, paths):
            raise Forbidden(
                f"sector {sector!r} may not request these claims of {self.id}",
                code="claims_not_permitted",
            )

    def expires_at(self, issued_at: dt.datetime) -> dt.datetime:
        return issued_at + self.validity


@dataclasses.dataclass(frozen=True, slots=True)
class Catalog:
    """Every credential type, by id and by ``vct``; iterates in id order."""

    types: Mapping[str, CredentialType]

    def get(self, type_id: str) -> CredentialType:
        """The type ``type_id``; raises :class:`NotFound` (``unknown_credential_type``)."""
        try:
            return self.types[type_id]
        except KeyError:
            raise NotFound(
                f"no credential type {type_id!r}", code="unknown_credential_type"
            ) from None

    def by_vct(self, vct: str) -> CredentialType:
        """The type whose ``vct`` is ``vct``; raises :class:`NotFound` like :meth:`get`."""
        for credential_type in self.types.values():
            if credential_type.vct == vct:
                return credential_type
        raise NotFound(f"no credential type with vct {vct!r}", code="unknown_credential_type")

    def revoked_by(self, event: str, changed: Iterable[str] = ()) -> tuple[CredentialType, ...]:
        """The types that ``event`` revokes (issuance's life-event consumer uses this)."""
        changed = tuple(changed)
        return tuple(t for t in self if t.is_revoked_by(event, changed))

    def __iter__(self) -> Iterator[CredentialType]:
        return iter(sorted(self.types.values(), key=lambda t: t.id))

    def __len__(self) -> int:
        return len(self.types)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self.types
