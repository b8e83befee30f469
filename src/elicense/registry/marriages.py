"""Marriages: register (at an appointment or directly), dissolve, status and history.

Marriage rows are never deleted (a trigger refuses it); dissolution fills in the date,
office and divorce certificate number. ``registry_active_unions`` holds one row per
currently married person, so that "at most one active marriage" is a database
constraint: of two clerks registering the same person at the same moment exactly one
commits, the other gets ``Conflict(already_married)``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import audit, rules
from elicense.registry.appointments import appointment_row, complete_appointment
from elicense.registry.models import ActiveUnion, Marriage, Person
from elicense.registry.offices import (
    check_certificate_number,
    next_certificate_number,
    office_row,
    slot_row,
)
from elicense.registry.persons import person_row
from elicense.registry.types import (
    SYSTEM,
    Actor,
    AppointmentStatus,
    MaritalState,
    MaritalStatus,
    MarriageRecord,
)
from elicense.storage import outbox


def register_marriage(
    session: Session,
    *,
    office_code: str,
    spouse_ids: tuple[str, str],
    registration_date: dt.date | None = None,
    certificate_number: str | None = None,
    actor: Actor = SYSTEM,
) -> MarriageRecord:
    """Register a marriage directly (registrar, or import with a legacy certificate number)."""
    spouses = (person_row(session, spouse_ids[0]), person_row(session, spouse_ids[1]))
    on = _registration_date(registration_date)
    row = _register(session, office_code, spouses, on, certificate_number, None)
    audit.record(session, actor, "marriage.register", "marriage", row.id, _payload(row))
    return to_record(row)


def register_marriage_at_appointment(
    session: Session, appointment_id: str, *, actor: Actor = SYSTEM
) -> MarriageRecord:
    """Register the marriage of a confirmed appointment at its office, today."""
    appointment = appointment_row(session, appointment_id, for_update=True)
    if appointment.status == AppointmentStatus.PENDING:
        raise Conflict(
            "both partners must confirm the appointment first", code="appointment_not_confirmed"
        )
    if appointment.status != AppointmentStatus.CONFIRMED:
        raise Conflict(f"the appointment is {appointment.status}", code="appointment_closed")
    office_code = slot_row(session, appointment.slot_id).office_code
    spouses = (
        person_row(session, appointment.partner_a_id),
        person_row(session, appointment.partner_b_id),
    )
    row = _register(session, office_code, spouses, clock.today(), None, appointment.id)
    complete_appointment(session, appointment, row.id)
    audit.record(session, actor, "marriage.register", "marriage", row.id, _payload(row))
    return to_record(row)


def dissolve_marriage(
    session: Session,
    marriage_id: str,
    *,
    office_code: str,
    dissolution_date: dt.date | None = None,
    dissolution_number: str | None = None,
    actor: Actor = SYSTEM,
) -> MarriageRecord:
    """Register a divorce: both spouses become free to marry; history is kept."""
    row = marriage_row(session, marriage_id, for_update=True)
    if row.dissolved_on is not None:
        raise Conflict("this marriage is already dissolved", code="marriage_already_dissolved")
    on = _dissolution_date(dissolution_date, row.registration_date)
    office = office_row(session, office_code)
    row.dissolution_number = (
        check_certificate_number(dissolution_number)
        if dissolution_number
        else next_certificate_number(session, office, "divorce", on)
    )
    row.dissolved_on, row.dissolution_office_code, row.updated_at = on, office.code, clock.now()
    session.execute(
        delete(ActiveUnion)
        .where(ActiveUnion.marriage_id == row.id)
        .execution_options(synchronize_session=False)
    )
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "divorce certificate number already used", code="certificate_exists"
        ) from None
    outbox.emit(session, "marriage.dissolved", row.id, _payload(row))
    audit.record(session, actor, "marriage.dissolve", "marriage", row.id, _payload(row))
    return to_record(row)


def get_marriage(session: Session, marriage_id: str) -> MarriageRecord:
    return to_record(marriage_row(session, marriage_id))


def find_marriage_by_certificate(session: Session, certificate_number: str) -> MarriageRecord:
    row = session.scalar(select(Marriage).where(Marriage.certificate_number == certificate_number))
    if row is None:
        raise NotFound("no marriage with this certificate number", code="marriage_not_found")
    return to_record(row)


def marriage_history(session: Session, person_id: str) -> list[MarriageRecord]:
    """Every marriage of a person, oldest first (dissolved ones included)."""
    person_row(session, person_id, code="person_not_found")
    query = (
        select(Marriage)
        .where(or_(Marriage.spouse_a_id == person_id, Marriage.spouse_b_id == person_id))
        .order_by(Marriage.registration_date, Marriage.created_at)
    )
    return [to_record(row) for row in session.scalars(query)]


def marital_status(session: Session, person_id: str) -> MaritalStatus:
    """Married / divorced / never married, with the current marriage and full history."""
    history = tuple(marriage_history(session, person_id))
    current = next((m for m in history if m.active), None)
    if current is not None:
        state = MaritalState.MARRIED
    elif history:
        state = MaritalState.DIVORCED
    else:
        state = MaritalState.NEVER_MARRIED
    return MaritalStatus(person_id=person_id, state=state, current=current, history=history)


# --- helpers --------------------------------------------------------------------------


def marriage_row(session: Session, marriage_id: str, *, for_update: bool = False) -> Marriage:
    query = select(Marriage).where(Marriage.id == marriage_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound("no marriage with this id", code="marriage_not_found")
    return row


def to_record(row: Marriage) -> MarriageRecord:
    return MarriageRecord(
        id=row.id,
        certificate_number=row.certificate_number,
        office_code=row.office_code,
        registration_date=row.registration_date,
        spouse_ids=(row.spouse_a_id, row.spouse_b_id),
        dissolved_on=row.dissolved_on,
        dissolution_office_code=row.dissolution_office_code,
        dissolution_number=row.dissolution_number,
    )


def _register(
    session: Session,
    office_code: str,
    spouses: tuple[Person, Person],
    on: dt.date,
    certificate_number: str | None,
    appointment_id: str | None,
) -> Marriage:
    office = office_row(session, office_code)
    rules.check_couple(session, spouses[0], spouses[1], on=on)
    if certificate_number is not None:
        _check_certificate_free(session, check_certificate_number(certificate_number))
    now = clock.now()
    row = Marriage(
        id=ids.new_id("mar"),
        office_code=office.code,
        registration_date=on,
        spouse_a_id=spouses[0].id,
        spouse_b_id=spouses[1].id,
        appointment_id=appointment_id,
        created_at=now,
        updated_at=now,
    )
    _insert(session, row, certificate_number)
    outbox.emit(session, "marriage.registered", row.id, _payload(row))
    return row


def _insert(session: Session, row: Marriage, certificate_number: str | None) -> None:
    """Insert the marriage (numbered) and one active union per spouse, all or nothing."""
    try:
        with session.begin_nested():
            row.certificate_number = certificate_number or next_certificate_number(
                session, office_row(session, row.office_code), "marriage", row.registration_date
            )
            session.add(row)
            session.flush()
            for person_id in sorted((row.spouse_a_id, row.spouse_b_id)):
                session.add(ActiveUnion(person_id=person_id, marriage_id=row.id))
                session.flush()
    except IntegrityError as exc:
        if "certificate_number" in str(exc.orig):
            raise Conflict(
                "marriage certificate number already used", code="certificate_exists"
            ) from None
        raise rules.already_married() from None


def _check_certificate_free(session: Session, certificate_number: str) -> None:
    query = select(Marriage.id).where(Marriage.certificate_number == certificate_number)
    if session.scalar(query) is not None:
        raise Conflict("marriage certificate number already used", code="certificate_exists")


def _registration_date(value: dt.date | None) -> dt.date:
    today = clock.today()
    if value is not None and value > today:
        raise ValidationFailed(
            "registration date is in the future", code="registration_date_future"
        )
    return value or today


def _dissolution_date(value: dt.date | None, registered: dt.date) -> dt.date:
    on = value or clock.today()
    if on > clock.today():
        raise ValidationFailed("dissolution date is in the future", code="dissolution_date_future")
    if on < registered:
        raise ValidationFailed(
            "dissolution date is before the registration", code="dissolution_before_registration"
        )
    return on


def _payload(row: Marriage) -> dict[str, object]:
    return {
        "marriage_id": row.id,
        "person_ids": [row.spouse_a_id, row.spouse_b_id],
        "office_code": row.dissolution_office_code or row.office_code,
    }
