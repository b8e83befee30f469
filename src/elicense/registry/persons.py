"""Persons of the registry: create, look up, rename; the reference face template slot.

The resident ID number is validated (GB 11643-1999) and must agree with the stated birth
date and sex; it is stored sealed plus a blind index, so look-ups and uniqueness work
without the plain number ever touching the database.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import audit, resident_id
from elicense.registry.models import Person
from elicense.registry.types import SYSTEM, Actor, NewPerson, PersonRecord, ReferenceTemplate, Sex
from elicense.storage import outbox
from elicense.storage.sealing import Sealer

ID_NUMBER_INDEX = "person.id_number"
_NAME = re.compile(r"[^\W\d_]+(?:[ ·'.-]{1,2}[^\W\d_]+)*")
_NATIONALITY = re.compile(r"[A-Z]{3}")


def create_person(
    session: Session, sealer: Sealer, new: NewPerson, *, actor: Actor = SYSTEM
) -> PersonRecord:
    """Register a person; ``Conflict(person_exists)`` if the ID number is already known."""
    parsed = resident_id.parse(new.id_number)
    resident_id.check_agrees(parsed, birth_date=new.birth_date, sex=new.sex)
    index = sealer.blind_index(parsed.number, ID_NUMBER_INDEX)
    if session.scalar(select(Person.id).where(Person.id_number_index == index)) is not None:
        raise _exists()
    now, person_id = clock.now(), ids.new_id("per")
    row = Person(
        id=person_id,
        id_number_index=index,
        id_number_sealed=sealer.seal_text(parsed.number, _sealing_context(person_id)),
        name_zh=_name(new.name_zh, 64, "name_zh"),
        name_latin=_name(new.name_latin, 128, "name_latin"),
        sex=parsed.sex.value,
        birth_date=parsed.birth_date,
        nationality=_nationality(new.nationality),
        household_region=_region(new.household_region or parsed.region),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise _exists() from None
    outbox.emit(session, "person.registered", row.id, {"person_id": row.id})
    audit.record(session, actor, "person.create", "person", row.id)
    return _record(row, parsed.number)


def get_person(session: Session, sealer: Sealer, person_id: str) -> PersonRecord:
    """The person with ``person_id``; ``NotFound(person_not_found)`` otherwise."""
    row = person_row(session, person_id, code="person_not_found")
    return to_record(row, sealer)


def find_person_by_id_number(session: Session, sealer: Sealer, id_number: str) -> PersonRecord:
    """Look a person up by resident ID number (validated first)."""
    row = person_row_by_id_number(session, sealer, id_number, code="person_not_found")
    return to_record(row, sealer)


def update_person_name(
    session: Session,
    sealer: Sealer,
    person_id: str,
    *,
    name_zh: str,
    name_latin: str,
    actor: Actor = SYSTEM,
) -> PersonRecord:
    """Change a person's names (emits ``person.updated``)."""
    row = person_row(session, person_id, code="person_not_found", for_update=True)
    row.name_zh = _name(name_zh, 64, "name_zh")
    row.name_latin = _name(name_latin, 128, "name_latin")
    row.updated_at = clock.now()
    outbox.emit(session, "person.updated", row.id, {"person_id": row.id, "fields": ["name"]})
    audit.record(session, actor, "person.rename", "person", row.id)
    return to_record(row, sealer)


def set_reference_template(
    session: Session,
    sealer: Sealer,
    person_id: str,
    template: bytes,
    *,
    actor: Actor = SYSTEM,
) -> None:
    """Store (sealed) the reference face template that proofing matches against."""
    if not template:
        raise ValidationFailed("reference template is empty", code="template_empty")
    row = person_row(session, person_id, code="person_not_found", for_update=True)
    row.reference_template_sealed = sealer.seal(template, _template_context(row.id))
    row.reference_template_updated_at = clock.now()
    audit.record(session, actor, "person.reference_template.set", "person", row.id)


def get_reference_template(
    session: Session, sealer: Sealer, person_id: str
) -> ReferenceTemplate | None:
    """The person's reference face template, or ``None`` when none is on record."""
    row = person_row(session, person_id, code="person_not_found")
    if row.reference_template_sealed is None or row.reference_template_updated_at is None:
        return None
    template = sealer.unseal(row.reference_template_sealed, _template_context(row.id))
    return ReferenceTemplate(template=template, updated_at=row.reference_template_updated_at)


# --- helpers shared inside the registry -----------------------------------------------


def person_row(
    session: Session, person_id: str, *, code: str = "person_unknown", for_update: bool = False
) -> Person:
    query = select(Person).where(Person.id == person_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound("no person with this id in the registry", code=code)
    return row


def person_row_by_id_number(
    session: Session, sealer: Sealer, id_number: str, *, code: str = "person_unknown"
) -> Person:
    parsed = resident_id.parse(id_number)
    index = sealer.blind_index(parsed.number, ID_NUMBER_INDEX)
    row = session.scalar(select(Person).where(Person.id_number_index == index))
    if row is None:
        raise NotFound("no person with this ID number in the registry", code=code)
    return row


def to_record(row: Person, sealer: Sealer) -> PersonRecord:
    return _record(row, sealer.unseal_text(row.id_number_sealed, _sealing_context(row.id)))


def _record(row: Person, id_number: str) -> PersonRecord:
    return PersonRecord(
        id=row.id,
        id_number=id_number,
        name_zh=row.name_zh,
        name_latin=row.name_latin,
        sex=Sex(row.sex),
        birth_date=row.birth_date,
        nationality=row.nationality,
        household_region=row.household_region,
        has_reference_template=row.reference_template_sealed is not None,
    )


def _sealing_context(person_id: str) -> str:
    return f"person.id_number:{person_id}"


def _template_context(person_id: str) -> str:
    return f"person.reference_template:{person_id}"


def _exists() -> Conflict:
    return Conflict("a person with this ID number is already registered", code="person_exists")


def _name(value: str, max_length: int, field: str) -> str:
    name = value.strip()
    if not name or len(name) > max_length or not _NAME.fullmatch(name):
        raise ValidationFailed(
            f"{field} must be 1–{max_length} letters (with single spaces, ·, ', . or -)",
            code="name_invalid",
            field=field,
        )
    return name


def _nationality(value: str) -> str:
    if not _NATIONALITY.fullmatch(value):
        raise ValidationFailed(
            "nationality must be an ISO 3166 alpha-3 code", code="nationality_invalid"
        )
    return value


def _region(value: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) == 6):
        raise ValidationFailed("household region must be 6 digits", code="region_invalid")
    if int(value[:2]) not in resident_id.PROVINCE_CODES:
        raise ValidationFailed("household region names no province", code="region_invalid")
    return value
