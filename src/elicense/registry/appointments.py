"""Marriage registration appointments: book, confirm, cancel, reschedule.

A couple books a slot naming both partners by resident ID number. Each partner gets a
one-time confirmation code (sent by SMS in production; stored only as a hash) and the
appointment is *confirmed* once both have confirmed with their code.

Overbooking is impossible, also under concurrent bookings: a seat is taken with the
conditional ``UPDATE … SET booked = booked + 1 WHERE booked < capacity`` (whose row count
says whether a seat was free) and the table's ``booked <= capacity`` check. A person holds
at most one open appointment (primary key of ``registry_active_bookings``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, Forbidden, NotFound, ValidationFailed
from elicense.registry import audit, rules
from elicense.registry.models import ActiveBooking, Appointment, AppointmentChange, Slot
from elicense.registry.offices import slot_row
from elicense.registry.persons import person_row_by_id_number
from elicense.registry.types import (
    PUBLIC,
    SYSTEM,
    Actor,
    AppointmentRecord,
    AppointmentStatus,
    BookingReceipt,
    Role,
)
from elicense.storage import outbox
from elicense.storage.sealing import Sealer

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
CHINA = dt.timezone(dt.timedelta(hours=8))
OPEN = (AppointmentStatus.PENDING.value, AppointmentStatus.CONFIRMED.value)


def book_appointment(
    session: Session,
    sealer: Sealer,
    *,
    slot_id: str,
    partner_id_numbers: tuple[str, str],
    actor: Actor = PUBLIC,
) -> BookingReceipt:
    """Book a seat in ``slot_id`` for two partners; returns each partner's code."""
    a, b = (person_row_by_id_number(session, sealer, n) for n in partner_id_numbers)
    slot = slot_row(session, slot_id)
    rules.check_couple(session, a, b, on=slot.starts_at.astimezone(CHINA).date())
    _check_bookable(slot)
    _check_not_booked(session, (a.id, b.id))
    _take_seat(session, slot.id)
    codes = (_new_code(), _new_code())
    now, appointment_id = clock.now(), ids.new_id("apt")
    row = Appointment(
        id=appointment_id,
        slot_id=slot.id,
        partner_a_id=a.id,
        partner_b_id=b.id,
        code_hash_a=_hash_code(appointment_id, codes[0]),
        code_hash_b=_hash_code(appointment_id, codes[1]),
        status=AppointmentStatus.PENDING.value,
        created_at=now,
        updated_at=now,
    )
    _insert_with_holds(session, row)
    _history(session, row, "booked", None, slot.id)
    outbox.emit(session, "appointment.booked", row.id, _payload(row))
    audit.record(session, actor, "appointment.book", "appointment", row.id, _payload(row))
    return BookingReceipt(appointment=to_record(session, row), confirmation_codes=codes)


def confirm_appointment(session: Session, appointment_id: str, code: str) -> AppointmentRecord:
    """A partner confirms with their code; both confirmed makes the appointment confirmed."""
    row = appointment_row(session, appointment_id, for_update=True)
    _check_open(row)
    now = clock.now()
    partner = _partner_for_code(row, code)
    if partner == 0 and row.confirmed_a_at is None:
        row.confirmed_a_at = now
    elif partner == 1 and row.confirmed_b_at is None:
        row.confirmed_b_at = now
    if row.confirmed_a_at is not None and row.confirmed_b_at is not None:
        row.status = AppointmentStatus.CONFIRMED.value
    row.updated_at = now
    _history(session, row, "confirmed", None, None)
    audit.record(session, PUBLIC, "appointment.confirm", "appointment", row.id)
    return to_record(session, row)


def cancel_appointment(
    session: Session,
    appointment_id: str,
    *,
    code: str | None = None,
    actor: Actor = PUBLIC,
) -> AppointmentRecord:
    """Cancel (a partner with their code, or a registrar); frees the seat."""
    row = appointment_row(session, appointment_id, for_update=True)
    _check_open(row)
    _authorize(row, code, actor)
    _release_seat(session, row.slot_id)
    _release_holds(session, row.id)
    row.status = AppointmentStatus.CANCELLED.value
    row.updated_at = clock.now()
    _history(session, row, "cancelled", row.slot_id, None)
    outbox.emit(session, "appointment.cancelled", row.id, _payload(row))
    audit.record(session, actor, "appointment.cancel", "appointment", row.id)
    return to_record(session, row)


def reschedule_appointment(
    session: Session,
    appointment_id: str,
    *,
    new_slot_id: str,
    code: str | None = None,
    actor: Actor = PUBLIC,
) -> AppointmentRecord:
    """Move an open appointment to another slot (a seat there must be free)."""
    row = appointment_row(session, appointment_id, for_update=True)
    _check_open(row)
    _authorize(row, code, actor)
    if new_slot_id == row.slot_id:
        raise ValidationFailed("the appointment is already in this slot", code="slot_unchanged")
    _check_bookable(slot_row(session, new_slot_id))
    _take_seat(session, new_slot_id)
    _release_seat(session, row.slot_id)
    old_slot_id, row.slot_id, row.updated_at = row.slot_id, new_slot_id, clock.now()
    _history(session, row, "rescheduled", old_slot_id, new_slot_id)
    payload = {**_payload(row), "from_slot_id": old_slot_id}
    outbox.emit(session, "appointment.rescheduled", row.id, payload)
    audit.record(session, actor, "appointment.reschedule", "appointment", row.id, payload)
    return to_record(session, row)


def get_appointment(session: Session, appointment_id: str) -> AppointmentRecord:
    return to_record(session, appointment_row(session, appointment_id))


# --- helpers shared inside the registry -----------------------------------------------


def appointment_row(
    session: Session, appointment_id: str, *, for_update: bool = False
) -> Appointment:
    query = (
        select(Appointment)
        .where(Appointment.id == appointment_id)
        .execution_options(populate_existing=True)
    )
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound("no appointment with this id", code="appointment_not_found")
    return row


def complete_appointment(session: Session, row: Appointment, marriage_id: str) -> None:
    """Close a confirmed appointment at which a marriage was registered."""
    _release_holds(session, row.id)
    row.status = AppointmentStatus.COMPLETED.value
    row.marriage_id = marriage_id
    row.updated_at = clock.now()
    _history(session, row, "completed", row.slot_id, None)


def to_record(session: Session, row: Appointment) -> AppointmentRecord:
    slot = slot_row(session, row.slot_id)
    changes = session.scalars(
        select(AppointmentChange)
        .where(
            AppointmentChange.appointment_id == row.id, AppointmentChange.change == "rescheduled"
        )
        .order_by(AppointmentChange.id)
    )
    return AppointmentRecord(
        id=row.id,
        slot_id=row.slot_id,
        office_code=slot.office_code,
        starts_at=slot.starts_at,
        partner_ids=(row.partner_a_id, row.partner_b_id),
        confirmed=(row.confirmed_a_at is not None, row.confirmed_b_at is not None),
        status=AppointmentStatus(row.status),
        marriage_id=row.marriage_id,
        reschedules=tuple((c.from_slot_id or "", c.to_slot_id or "") for c in changes),
    )


def _check_bookable(slot: Slot) -> None:
    if slot.starts_at <= clock.now():
        raise Conflict("this slot has already started", code="slot_past")


def _check_not_booked(session: Session, person_ids: tuple[str, str]) -> None:
    query = select(ActiveBooking.person_id).where(ActiveBooking.person_id.in_(person_ids))
    if session.scalar(query) is not None:
        raise _already_booked()


def _take_seat(session: Session, slot_id: str) -> None:
    take = (
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked < Slot.capacity)
        .values(booked=Slot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(take)).rowcount != 1:
        raise Conflict("this slot is fully booked", code="slot_full")


def _release_seat(session: Session, slot_id: str) -> None:
    free = (
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked > 0)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(free)


def _insert_with_holds(session: Session, row: Appointment) -> None:
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            for person_id in sorted((row.partner_a_id, row.partner_b_id)):
                session.add(ActiveBooking(person_id=person_id, appointment_id=row.id))
                session.flush()
    except IntegrityError:
        raise _already_booked() from None


def _release_holds(session: Session, appointment_id: str) -> None:
    session.execute(
        delete(ActiveBooking)
        .where(ActiveBooking.appointment_id == appointment_id)
        .execution_options(synchronize_session=False)
    )


def _check_open(row: Appointment) -> None:
    if row.status not in OPEN:
        raise Conflict(f"the appointment is {row.status}", code="appointment_closed")


def _authorize(row: Appointment, code: str | None, actor: Actor) -> None:
    if actor == SYSTEM or actor.role in (Role.REGISTRAR, Role.ADMIN):
        return
    if code is None:
        raise Forbidden(
            "a partner's confirmation code is required", code="confirmation_code_required"
        )
    _partner_for_code(row, code)


def _partner_for_code(row: Appointment, code: str) -> int:
    given = _hash_code(row.id, code)
    if hmac.compare_digest(given, row.code_hash_a):
        return 0
    if hmac.compare_digest(given, row.code_hash_b):
        return 1
    raise Forbidden("the confirmation code is not valid", code="confirmation_code_invalid")


def _history(
    session: Session, row: Appointment, change: str, from_slot: str | None, to_slot: str | None
) -> None:
    session.add(
        AppointmentChange(
            appointment_id=row.id,
            change=change,
            from_slot_id=from_slot,
            to_slot_id=to_slot,
            changed_at=clock.now(),
        )
    )


def _payload(row: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": row.id,
        "slot_id": row.slot_id,
        "person_ids": [row.partner_a_id, row.partner_b_id],
    }


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _hash_code(appointment_id: str, code: str) -> str:
    normalized = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{appointment_id}:{normalized}".encode()).hexdigest()


def _already_booked() -> Conflict:
    return Conflict("a partner already holds an open appointment", code="already_booked")
