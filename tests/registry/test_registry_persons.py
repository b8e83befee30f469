from __future__ import annotations

import datetime as dt

import pytest
from registry_factories import Factory, new_id_number
from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import service
from elicense.registry.models import Person
from elicense.registry.types import NewPerson, Sex
from elicense.storage import outbox
from elicense.storage.sealing import Sealer


def _new(number: str, **changes: object) -> NewPerson:
    fields: dict[str, object] = {
        "id_number": number,
        "name_zh": "陈静",
        "name_latin": "Chen Jing",
        "sex": Sex.FEMALE,
        "birth_date": dt.date(1992, 6, 1),
    }
    fields.update(changes)
    return NewPerson(**fields)  # type: ignore[arg-type]


def test_create_and_get_person(session: Session, sealer: Sealer) -> None:
    number = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1992, 6, 1))
    created = service.create_person(session, sealer, _new(number))
    got = service.get_person(session, sealer, created.id)
    assert got == created
    assert got.id_number == number
    assert got.household_region == number[:6]
    assert got.nationality == "CHN"
    assert service.find_person_by_id_number(session, sealer, number.lower()).id == created.id


def test_id_number_is_stored_sealed_never_plain(session: Session, sealer: Sealer) -> None:
    number = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1992, 6, 1))
    created = service.create_person(session, sealer, _new(number))
    row = session.scalars(select(Person).where(Person.id == created.id)).one()
    assert number.encode() not in row.id_number_sealed
    assert number not in row.id_number_index


def test_person_registered_event_carries_only_the_id(session: Session, sealer: Sealer) -> None:
    number = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1992, 6, 1))
    created = service.create_person(session, sealer, _new(number))
    session.flush()
    events = [e for e in outbox.pending(session, "t") if e.aggregate_id == created.id]
    assert [(e.event_type, e.payload) for e in events] == [
        ("person.registered", {"person_id": created.id})
    ]


def test_duplicate_id_number_is_a_conflict(session: Session, sealer: Sealer) -> None:
    number = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1992, 6, 1))
    service.create_person(session, sealer, _new(number))
    with pytest.raises(Conflict) as info:
        service.create_person(session, sealer, _new(number, name_zh="别人"))
    assert info.value.instance_code == "person_exists"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"birth_date": dt.date(1992, 6, 2)}, "id_number_birth_date_mismatch"),
        ({"sex": Sex.MALE}, "id_number_sex_mismatch"),
        ({"name_zh": "  "}, "name_invalid"),
        ({"name_latin": "Chen 2"}, "name_invalid"),
        ({"nationality": "cn"}, "nationality_invalid"),
        ({"household_region": "99"}, "region_invalid"),
        ({"id_number": "330106199206010021"}, "id_number_checksum"),
    ],
)
def test_invalid_person_is_refused(
    session: Session, sealer: Sealer, changes: dict[str, object], code: str
) -> None:
    number = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1992, 6, 1))
    with pytest.raises(ValidationFailed) as info:
        service.create_person(session, sealer, _new(number, **changes))
    assert info.value.instance_code == code


def test_minority_names_with_middle_dot_are_accepted(make: Factory) -> None:
    person = make.person(name_zh="阿依古丽·买买提", name_latin="Ayigul Maimaiti")
    assert person.name_zh == "阿依古丽·买买提"


def test_unknown_person(session: Session, sealer: Sealer) -> None:
    with pytest.raises(NotFound) as info:
        service.get_person(session, sealer, "per_nope")
    assert info.value.instance_code == "person_not_found"
    with pytest.raises(NotFound):
        service.find_person_by_id_number(session, sealer, new_id_number())


def test_update_name_emits_person_updated(make: Factory, session: Session) -> None:
    person = make.person()
    updated = service.update_person_name(
        session, make.sealer, person.id, name_zh="张维", name_latin="Zhang Wei"
    )
    assert updated.name_zh == "张维"
    session.flush()
    events = [e.event_type for e in outbox.pending(session, "t") if e.aggregate_id == person.id]
    assert events == ["person.registered", "person.updated"]


def test_reference_template_slot(make: Factory, session: Session) -> None:
    person = make.person()
    assert service.get_reference_template(session, make.sealer, person.id) is None
    service.set_reference_template(session, make.sealer, person.id, b"\x01\x02template")
    stored = service.get_reference_template(session, make.sealer, person.id)
    assert stored is not None
    assert stored.template == b"\x01\x02template"
    assert service.get_person(session, make.sealer, person.id).has_reference_template
    row = session.get(Person, person.id)
    assert row is not None
    assert b"template" not in (row.reference_template_sealed or b"")
    with pytest.raises(ValidationFailed):
        service.set_reference_template(session, make.sealer, person.id, b"")


def test_repr_of_records_hides_personal_data(make: Factory) -> None:
    person = make.person()
    assert person.id_number not in repr(person)
    assert person.name_zh not in repr(person)
