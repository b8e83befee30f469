"""The two registry readers agree: ORM (service functions) and compiled statements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from registry_factories import Factory
from sqlalchemy.orm import Session

from elicense.errors import NotFound
from elicense.registry import service
from elicense.registry.reads import CursorReader, SessionReader
from elicense.registry.travel import Endorsement
from elicense.storage.sealing import Sealer


@pytest.fixture
def readers(session: Session, sealer: Sealer) -> Iterator[tuple[SessionReader, CursorReader]]:
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield SessionReader(session, sealer), CursorReader(cursor, connection.dialect, sealer)
    finally:
        cursor.close()


def _same(readers: tuple[SessionReader, CursorReader], method: str, *args: Any) -> Any:
    by_session, by_cursor = (getattr(r, method)(*args) for r in readers)
    assert by_session == by_cursor
    return by_cursor


def test_persons_with_and_without_a_template(
    make: Factory, session: Session, sealer: Sealer, readers: Any
) -> None:
    plain, enrolled = make.couple()
    service.set_reference_template(session, sealer, enrolled.id, b"\x01" * 64)
    session.flush()
    assert _same(readers, "person", plain.id).has_reference_template is False
    found = _same(readers, "person", enrolled.id)
    assert found.has_reference_template is True
    assert found.id_number == enrolled.id_number  # unsealed the same way


def test_unknown_person_and_office_are_not_found(readers: Any) -> None:
    for reader in readers:
        with pytest.raises(NotFound) as person:
            reader.person("per_missing")
        assert person.value.instance_code == "person_not_found"
        with pytest.raises(NotFound) as office:
            reader.office_name("NOPE")
        assert office.value.instance_code == "office_unknown"


def test_current_marriage_through_marriage_divorce_and_remarriage(
    make: Factory, session: Session, readers: Any
) -> None:
    office = make.office()
    a, b = make.couple()
    assert _same(readers, "current_marriage", a.id) is None
    assert _same(readers, "marriage_of", a.id) is None
    first = service.register_marriage(session, office_code=office.code, spouse_ids=(a.id, b.id))
    session.flush()
    assert _same(readers, "current_marriage", a.id) == first
    assert _same(readers, "office_name", office.code) == office.name
    for holder, spouse in ((a, b), (b, a)):  # each spouse is the holder of their own
        found = _same(readers, "marriage_of", holder.id)
        assert (found.marriage, found.office_name) == (first, office.name)
        assert (found.holder.id, found.spouse.id) == (holder.id, spouse.id)
        assert found.spouse.id_number == spouse.id_number  # unsealed, as person() does
    service.dissolve_marriage(session, first.id, office_code=office.code)
    session.flush()
    assert _same(readers, "current_marriage", b.id) is None
    assert _same(readers, "marriage_of", b.id) is None
    c = make.person(name_zh="赵敏", name_latin="Zhao Min")
    second = service.register_marriage(session, office_code=office.code, spouse_ids=(a.id, c.id))
    session.flush()
    assert _same(readers, "current_marriage", a.id) == second
    assert _same(readers, "marriage_of", a.id).spouse.name_zh == "赵敏"
    assert _same(readers, "marriage_of", "p_nobody") is None


def test_health_enrolment_and_travel_permit(make: Factory, session: Session, readers: Any) -> None:
    person = make.person()
    assert _same(readers, "active_health_enrollment", person.id) is None
    assert _same(readers, "active_travel_permit", person.id) is None
    enrollment = service.enroll_health(
        session, person.id, card_number="H330100000001", insured_region="330100", scheme="urban"
    )
    today = dt.date.today()
    endorsement = Endorsement(
        endorsement_type="tourism",
        permitted_entries=2,
        valid_from=today,
        valid_until=today + dt.timedelta(days=90),
    )
    permit = service.issue_travel_permit(
        session, person.id, number="C12345678", endorsement=endorsement
    )
    session.flush()
    assert _same(readers, "active_health_enrollment", person.id) == enrollment
    assert _same(readers, "active_travel_permit", person.id) == permit
