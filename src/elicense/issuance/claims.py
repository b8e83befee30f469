"""Entitlement and claims: from the registry record a type derives from to its claims.

Each catalogue type names a source kind (``marriage``, ``person``,
``health_enrollment``, ``travel_permit``); :func:`source_from` fetches that record
through a :class:`~elicense.registry.reads.RegistryReader` (never the registry's tables;
:func:`source_for` on an ORM session) and refuses with
:class:`~elicense.errors.CredentialRequestDenied` when the person is not entitled (e.g.
not married). :func:`build_claims` then fills the catalogue's claims from the record's
fields by their ``source`` path (``holder.name_zh``, ``marriage.certificate_number``…).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from elicense.catalog.model import Claim, ClaimType, CredentialType, SourceKind
from elicense.errors import CredentialRequestDenied
from elicense.registry.reads import RegistryReader, SessionReader
from elicense.registry.types import MaritalState, PersonRecord
from elicense.storage.sealing import Sealer

Fields = dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class SourceRecord:
    """The registry record a credential derives from: its id and its fields by group."""

    source_id: str
    fields: Fields = dataclasses.field(repr=False)


def source_for(
    session: Session, sealer: Sealer, credential_type: CredentialType, person_id: str
) -> SourceRecord:
    """:func:`source_from` through the registry service on an ORM session."""
    return source_from(SessionReader(session, sealer), credential_type, person_id)


def source_from(
    reader: RegistryReader, credential_type: CredentialType, person_id: str
) -> SourceRecord:
    """The record ``person_id``'s credential of ``credential_type`` derives from, or deny."""
    kind = credential_type.source
    if kind is SourceKind.MARRIAGE:  # the holder comes with the marriage (one read)
        return _marriage(reader, person_id)
    holder = _person(reader, person_id)
    if kind is SourceKind.PERSON:
        return SourceRecord(person_id, holder)
    if kind is SourceKind.HEALTH_ENROLLMENT:
        return _health(reader, person_id, holder)
    return _travel(reader, person_id, holder)


def _marriage(reader: RegistryReader, person_id: str) -> SourceRecord:
    found = reader.marriage_of(person_id)
    if found is None:
        reader.person(person_id)  # an unknown person is refused as such
        raise CredentialRequestDenied("the person is not married", code="not_married")
    marriage = found.marriage
    fields: Fields = {
        "holder": _holder(found.holder),
        "spouse": _holder(found.spouse),
        "marriage": {
            "certificate_number": marriage.certificate_number,
            "registered_on": marriage.registration_date,
            "status": MaritalState.MARRIED.value,
        },
        "office": {"name": found.office_name},
    }
    return SourceRecord(marriage.id, fields)


def _health(reader: RegistryReader, person_id: str, holder: Fields) -> SourceRecord:
    enrollment = reader.active_health_enrollment(person_id)
    if enrollment is None:
        raise CredentialRequestDenied(
            "the person has no active health enrolment", code="not_enrolled"
        )
    fields = {
        **holder,
        "enrollment": {
            "card_number": enrollment.card_number,
            "insured_region": enrollment.insured_region,
            "scheme": enrollment.scheme,
            "enrolled_on": enrollment.enrolled_on,
        },
    }
    return SourceRecord(enrollment.id, fields)


def _travel(reader: RegistryReader, person_id: str, holder: Fields) -> SourceRecord:
    permit = reader.active_travel_permit(person_id)
    if permit is None:
        raise CredentialRequestDenied("the person has no valid travel permit", code="no_permit")
    endorsement = permit.endorsement
    fields = {
        **holder,
        "permit": {
            "number": permit.number,
            "endorsement_type": endorsement.endorsement_type,
            "permitted_entries": endorsement.permitted_entries,
            "endorsement_valid_from": endorsement.valid_from,
            "endorsement_valid_until": endorsement.valid_until,
        },
    }
    return SourceRecord(permit.id, fields)


def _person(reader: RegistryReader, person_id: str) -> Fields:
    return {"holder": _holder(reader.person(person_id))}


def _holder(person: PersonRecord) -> dict[str, Any]:
    return {
        "name_zh": person.name_zh,
        "name_latin": person.name_latin,
        "sex": person.sex,
        "birth_date": person.birth_date,
        "nationality": person.nationality,
        "id_number": person.id_number,
        "household_region": person.household_region,
    }


def build_claims(credential_type: CredentialType, source: SourceRecord) -> dict[str, Any]:
    """The subject claims of ``credential_type`` filled from ``source`` (JSON values)."""
    return _members(credential_type.claims, source.fields)


def _members(claims: tuple[Claim, ...], fields: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for claim in claims:
        value = _value(claim, fields)
        if value is not None:
            out[claim.name] = value
    return out


def _value(claim: Claim, fields: Fields) -> Any:
    if claim.type is ClaimType.OBJECT:
        return _members(claim.claims, fields) or None
    group, _, name = (claim.source or "").partition(".")
    value = fields.get(group, {}).get(name)
    if value is None and claim.required and claim.type is not ClaimType.IMAGE:
        raise CredentialRequestDenied(
            f"the registry record lacks {claim.source}", code="claim_source_missing"
        )
    return _json_value(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    return value
