from __future__ import annotations

import datetime as dt

import pytest
from registry_factories import Factory
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import Conflict, Forbidden, NotFound, ValidationFailed
from elicense.registry import service
from elicense.registry.types import SYSTEM, Actor, AppointmentStatus, Role, Sex
from elicense.storage import outbox

REGISTRAR = Actor("clk_test", Role.REGISTRAR, "registrar")


def _code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc.value, "instance_code", ""))


def _book(make: Factory, slot_id: str, a: str, b: str) -> service.BookingReceipt:
    return service.book_appointment(
        make.session, make.sealer, slot_id=slot_id, partner_id_numbers=(a, b)
    )


def _couple_booked(make: Factory, slot_id: str) -> service.BookingReceipt:
    man, woman = make.couple()
    return _book(make, slot_id, man.id_number, woman.id_number)


def test_book_confirm_and_register_at_the_appointment(make: Factory, session: Session) -> None:
    make.office()
    slot = make.slot("HZSC")
    receipt = _couple_booked(make, slot.id)
    appointment = receipt.appointment
    assert appointment.status is AppointmentStatus.PENDING
    assert service.get_slot(session, slot.id).booked == 1
    code_a, code_b = receipt.confirmation_codes
    assert code_a != code_b
    with pytest.raises(Conflict) as info:
        service.register_marriage_at_appointment(session, appointment.id, actor=REGISTRAR)
    assert _code(info) == "appointment_not_confirmed"
    assert service.confirm_appointment(session, appointment.id, code_a).confirmed == (True, False)
    confirmed = service.confirm_appointment(session, appointment.id, code_b.lower())
    assert confirmed.status is AppointmentStatus.CONFIRMED
    marriage = service.register_marriage_at_appointment(session, appointment.id, actor=REGISTRAR)
    assert marriage.office_code == "HZSC"
    assert marriage.spouse_ids == appointment.partner_ids
    done = service.get_appointment(session, appointment.id)
    assert done.status is AppointmentStatus.COMPLETED
    assert done.marriage_id == marriage.id
    with pytest.raises(Conflict) as info:
        service.register_marriage_at_appointment(session, appointment.id, actor=REGISTRAR)
    assert _code(info) == "appointment_closed"


def test_wrong_confirmation_code_is_forbidden(make: Factory, session: Session) -> None:
    make.office()
    receipt = _couple_booked(make, make.slot("HZSC").id)
    with pytest.raises(Forbidden) as info:
        service.confirm_appointment(session, receipt.appointment.id, "WRONGCODE1")
    assert _code(info) == "confirmation_code_invalid"


def test_full_slot_refuses_booking(make: Factory, session: Session) -> None:
    make.office()
    slot = make.slot("HZSC", capacity=1)
    _couple_booked(make, slot.id)
    with pytest.raises(Conflict) as info:
        _couple_booked(make, slot.id)
    assert _code(info) == "slot_full"
    assert service.get_slot(session, slot.id).booked == 1
    assert service.list_free_slots(session, office_code="HZSC") == []


def test_double_booking_by_the_same_person_is_refused(make: Factory) -> None:
    make.office()
    first, second = make.slot("HZSC"), make.slot("HZSC", days_ahead=2)
    man, woman = make.couple()
    _book(make, first.id, man.id_number, woman.id_number)
    other = make.person(sex=Sex.FEMALE)
    with pytest.raises(Conflict) as info:
        _book(make, second.id, man.id_number, other.id_number)
    assert _code(info) == "already_booked"
    assert service.get_slot(make.session, second.id).booked == 0


def test_booking_checks_the_couple(make: Factory) -> None:
    make.office()
    slot = make.slot("HZSC", capacity=5)
    man, woman = make.couple()
    with pytest.raises(ValidationFailed) as info:
        _book(make, slot.id, man.id_number, man.id_number)
    assert _code(info) == "same_person"
    from registry_factories import new_id_number

    with pytest.raises(NotFound) as info:
        _book(make, slot.id, man.id_number, new_id_number(sex=Sex.FEMALE))
    assert _code(info) == "person_unknown"
    with pytest.raises(ValidationFailed) as info:
        _book(make, slot.id, man.id_number, "123")
    assert _code(info) == "id_number_format"
    with pytest.raises(NotFound) as info:
        _book(make, "slot_nope", man.id_number, woman.id_number)
    assert _code(info) == "slot_unknown"
    service.register_marriage(make.session, office_code="HZSC", spouse_ids=(man.id, woman.id))
    with pytest.raises(Conflict) as info:
        _book(make, slot.id, man.id_number, woman.id_number)
    assert _code(info) == "already_married"


def test_cancel_frees_the_seat_and_needs_a_code(make: Factory, session: Session) -> None:
    make.office()
    slot = make.slot("HZSC", capacity=1)
    receipt = _couple_booked(make, slot.id)
    appointment_id = receipt.appointment.id
    with pytest.raises(Forbidden) as info:
        service.cancel_appointment(session, appointment_id)
    assert _code(info) == "confirmation_code_required"
    cancelled = service.cancel_appointment(
        session, appointment_id, code=receipt.confirmation_codes[1]
    )
    assert cancelled.status is AppointmentStatus.CANCELLED
    assert service.get_slot(session, slot.id).booked == 0
    with pytest.raises(Conflict) as info:
        service.cancel_appointment(session, appointment_id, actor=SYSTEM)
    assert _code(info) == "appointment_closed"
    # the partners may book again, and the seat is free again
    man_id, woman_id = receipt.appointment.partner_ids
    man = service.get_person(session, make.sealer, man_id)
    woman = service.get_person(session, make.sealer, woman_id)
    again = _book(make, slot.id, man.id_number, woman.id_number)
    assert again.appointment.status is AppointmentStatus.PENDING
    session.flush()
    kinds = [e.event_type for e in outbox.pending(session, "t") if e.aggregate_id == appointment_id]
    assert kinds == ["appointment.booked", "appointment.cancelled"]


def test_reschedule_moves_the_seat_and_keeps_history(make: Factory, session: Session) -> None:
    make.office()
    first, second = make.slot("HZSC"), make.slot("HZSC", days_ahead=3)
    receipt = _couple_booked(make, first.id)
    code = receipt.confirmation_codes[0]
    moved = service.reschedule_appointment(
        session, receipt.appointment.id, new_slot_id=second.id, code=code
    )
    assert moved.slot_id == second.id
    assert moved.reschedules == ((first.id, second.id),)
    assert service.get_slot(session, first.id).booked == 0
    assert service.get_slot(session, second.id).booked == 1
    with pytest.raises(ValidationFailed) as info:
        service.reschedule_appointment(
            session, receipt.appointment.id, new_slot_id=second.id, actor=REGISTRAR
        )
    assert _code(info) == "slot_unchanged"


def test_reschedule_into_a_full_slot_changes_nothing(make: Factory, session: Session) -> None:
    make.office()
    first, full = make.slot("HZSC"), make.slot("HZSC", capacity=1, days_ahead=2)
    _couple_booked(make, full.id)
    receipt = _couple_booked(make, first.id)
    with pytest.raises(Conflict) as info:
        service.reschedule_appointment(
            session, receipt.appointment.id, new_slot_id=full.id, actor=REGISTRAR
        )
    assert _code(info) == "slot_full"
    assert service.get_appointment(session, receipt.appointment.id).slot_id == first.id


def test_slots_validate_and_past_slots_cannot_be_booked(make: Factory, session: Session) -> None:
    make.office()
    start = clock.now() + dt.timedelta(days=1)
    with pytest.raises(ValidationFailed) as info:
        service.create_slot(session, office_code="HZSC", starts_at=start, ends_at=start, capacity=1)
    assert _code(info) == "slot_time_invalid"
    with pytest.raises(ValidationFailed) as info:
        service.create_slot(
            session,
            office_code="HZSC",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            capacity=0,
        )
    assert _code(info) == "slot_capacity_invalid"
    with pytest.raises(NotFound) as info:
        service.create_slot(
            session,
            office_code="NOPE",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            capacity=1,
        )
    assert _code(info) == "office_unknown"
    slot = make.slot("HZSC")
    with clock.shifted(2 * 86400):
        assert service.list_free_slots(session, office_code="HZSC") == []
        with pytest.raises(Conflict) as info:
            _couple_booked(make, slot.id)
        assert _code(info) == "slot_past"


def test_offices(make: Factory, session: Session) -> None:
    office = make.office()
    assert office.marriage_prefix == "J330106"
    assert office.divorce_prefix == "L330106"
    assert service.list_offices(session) == [office]
    with pytest.raises(Conflict) as info:
        make.office()
    assert _code(info) == "office_exists"
    with pytest.raises(ValidationFailed) as info:
        service.create_office(session, code="x", name="n", region="330106")
    assert _code(info) == "office_code_invalid"
