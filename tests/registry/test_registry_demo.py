from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicense.registry import resident_id, service
from elicense.registry.demo import print_demo_seed, seed_demo
from elicense.registry.models import Marriage, Person
from elicense.registry.types import MaritalState
from elicense.storage.sealing import Sealer


def test_demo_seed_is_complete_and_idempotent(
    session: Session, sealer: Sealer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = seed_demo(session, sealer)
    assert len(first.offices) == 3
    assert len(first.persons) == 12
    assert first.slots_created > 0
    for person in first.persons:
        assert resident_id.parse(person.id_number).birth_date == person.birth_date
    married = service.marital_status(session, first.married_couple[0])
    assert married.state is MaritalState.MARRIED
    assert service.marital_status(session, first.divorced_couple[1]).state is MaritalState.DIVORCED
    assert (
        service.authenticate(session, "demo.registrar", first.registrar.password).role
        == "registrar"
    )
    assert service.authenticate(session, "demo.auditor", first.auditor.password).role == "auditor"
    assert service.list_free_slots(session, office_code="HZ-SC")

    second = seed_demo(session, sealer)
    assert second.slots_created == 0
    assert [p.person_id for p in second.persons] == [p.person_id for p in first.persons]
    assert second.married_marriage_id == first.married_marriage_id
    assert session.scalar(select(func.count()).select_from(Person)) == 12
    assert session.scalar(select(func.count()).select_from(Marriage)) == 2
    assert service.authenticate(session, "demo.registrar", second.registrar.password)

    print_demo_seed(second)
    printed = capsys.readouterr().out
    assert second.registrar.password in printed
    assert second.persons[0].id_number in printed
