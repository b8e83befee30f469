from __future__ import annotations

import datetime as dt
import re

import pytest
from registry_factories import Factory
from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import service
from elicense.registry.models import Marriage
from elicense.registry.rules import age_on
from elicense.registry.types import MaritalState, Sex
from elicense.storage import outbox


def _register(make: Factory, a: str, b: str, **kw: object) -> service.MarriageRecord:
    return service.register_marriage(make.session, office_code="HZSC", spouse_ids=(a, b), **kw)  # type: ignore[arg-type]


def _code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc.value, "instance_code", ""))


def test_register_marriage_numbers_the_certificate_in_the_office_format(make: Factory) -> None:
    make.office()
    man, woman = make.couple()
    first = _register(make, man.id, woman.id)
    assert re.fullmatch(rf"J330106-{clock.today().year}-000001", first.certificate_number)
    other_man, other_woman = make.couple()
    second = _register(make, other_man.id, other_woman.id)
    assert second.certificate_number.endswith("-000002")
    assert first.registration_date == clock.today()
    assert first.active


def test_marriage_registered_event(make: Factory, session: Session) -> None:
    make.office()
    man, woman = make.couple()
    marriage = _register(make, man.id, woman.id)
    session.flush()
    events = [e for e in outbox.pending(session, "t") if e.aggregate_id == marriage.id]
    assert [e.event_type for e in events] == ["marriage.registered"]
    assert events[0].payload["person_ids"] == [man.id, woman.id]


def test_already_married_is_refused(make: Factory) -> None:
    make.office()
    man, woman = make.couple()
    _register(make, man.id, woman.id)
    third = make.person(sex=Sex.FEMALE, name_zh="赵敏", name_latin="Zhao Min")
    with pytest.raises(Conflict) as info:
        _register(make, man.id, third.id)
    assert _code(info) == "already_married"
    with pytest.raises(Conflict):
        _register(make, third.id, woman.id)


def test_same_person_is_refused(make: Factory) -> None:
    make.office()
    man = make.person()
    with pytest.raises(ValidationFailed) as info:
        _register(make, man.id, man.id)
    assert _code(info) == "same_person"


def test_unknown_person_and_office_are_refused(make: Factory) -> None:
    make.office()
    man = make.person()
    with pytest.raises(NotFound) as info:
        _register(make, man.id, "per_unknown")
    assert _code(info) == "person_unknown"
    woman = make.person(sex=Sex.FEMALE)
    with pytest.raises(NotFound) as info:
        service.register_marriage(make.session, office_code="NOPE", spouse_ids=(man.id, woman.id))
    assert _code(info) == "office_unknown"


@pytest.mark.parametrize(
    ("sex", "years"),
    [(Sex.MALE, 22), (Sex.FEMALE, 20)],
)
def test_legal_age_boundary(make: Factory, sex: Sex, years: int) -> None:
    make.office()
    today = clock.today()
    birthday = (
        today.replace(year=today.year - years)
        if (today.month, today.day) != (2, 29)
        else today.replace(year=today.year - years, day=28)
    )
    just_old_enough = make.person(sex=sex, birth_date=birthday)
    too_young = make.person(sex=sex, birth_date=birthday + dt.timedelta(days=1))
    partner_sex = Sex.FEMALE if sex is Sex.MALE else Sex.MALE
    partner, partner2 = make.person(sex=partner_sex), make.person(sex=partner_sex)
    with pytest.raises(ValidationFailed) as info:
        _register(make, too_young.id, partner.id)
    assert _code(info) == "under_legal_age"
    assert _register(make, just_old_enough.id, partner2.id).active


def test_age_on_handles_leap_day_birthdays() -> None:
    assert age_on(dt.date(2004, 2, 29), dt.date(2024, 2, 28)) == 19
    assert age_on(dt.date(2004, 2, 29), dt.date(2024, 2, 29)) == 20
    assert age_on(dt.date(2004, 2, 29), dt.date(2025, 3, 1)) == 21


def test_future_registration_date_is_refused(make: Factory) -> None:
    make.office()
    man, woman = make.couple()
    with pytest.raises(ValidationFailed) as info:
        _register(make, man.id, woman.id, registration_date=clock.today() + dt.timedelta(days=1))
    assert _code(info) == "registration_date_future"


def test_divorce_then_remarriage_keeps_full_history(make: Factory, session: Session) -> None:
    make.office()
    make.office(code="HZXH", region="330106")
    man, woman = make.couple()
    first = _register(make, man.id, woman.id, registration_date=dt.date(2018, 5, 20))
    dissolved = service.dissolve_marriage(
        session, first.id, office_code="HZXH", dissolution_date=dt.date(2023, 1, 10)
    )
    assert dissolved.dissolved_on == dt.date(2023, 1, 10)
    assert dissolved.dissolution_office_code == "HZXH"
    assert dissolved.dissolution_number == "L330106-2023-000001"
    assert service.marital_status(session, man.id).state is MaritalState.DIVORCED
    new_wife = make.person(sex=Sex.FEMALE, name_zh="孙丽", name_latin="Sun Li")
    second = _register(make, man.id, new_wife.id)
    status = service.marital_status(session, man.id)
    assert status.state is MaritalState.MARRIED
    assert status.current == second
    assert [m.id for m in status.history] == [first.id, second.id]
    assert service.marital_status(session, woman.id).current is None
    session.flush()
    kinds = [e.event_type for e in outbox.pending(session, "t") if e.aggregate_id == first.id]
    assert kinds == ["marriage.registered", "marriage.dissolved"]


def test_dissolution_rules(make: Factory, session: Session) -> None:
    make.office()
    man, woman = make.couple()
    marriage = _register(make, man.id, woman.id, registration_date=dt.date(2020, 1, 1))
    with pytest.raises(ValidationFailed) as info:
        service.dissolve_marriage(
            session, marriage.id, office_code="HZSC", dissolution_date=dt.date(2019, 12, 31)
        )
    assert _code(info) == "dissolution_before_registration"
    with pytest.raises(ValidationFailed) as info:
        service.dissolve_marriage(
            session,
            marriage.id,
            office_code="HZSC",
            dissolution_date=clock.today() + dt.timedelta(days=1),
        )
    assert _code(info) == "dissolution_date_future"
    service.dissolve_marriage(session, marriage.id, office_code="HZSC")
    with pytest.raises(Conflict) as info:
        service.dissolve_marriage(session, marriage.id, office_code="HZSC")
    assert _code(info) == "marriage_already_dissolved"
    with pytest.raises(NotFound) as info:
        service.dissolve_marriage(session, "mar_nope", office_code="HZSC")
    assert _code(info) == "marriage_not_found"


def test_never_married_status(make: Factory, session: Session) -> None:
    person = make.person()
    status = service.marital_status(session, person.id)
    assert status.state is MaritalState.NEVER_MARRIED
    assert status.history == ()
    with pytest.raises(NotFound):
        service.marital_status(session, "per_nope")


def test_legacy_certificate_number_is_kept_and_unique(make: Factory) -> None:
    make.office()
    man, woman = make.couple()
    marriage = _register(
        make, man.id, woman.id, registration_date=dt.date(2015, 1, 1), certificate_number="J2015-77"
    )
    assert service.find_marriage_by_certificate(make.session, "J2015-77") == marriage
    a, b = make.couple()
    with pytest.raises(Conflict) as info:
        _register(make, a.id, b.id, certificate_number="J2015-77")
    assert _code(info) == "certificate_exists"


def test_marriage_rows_cannot_be_deleted(make: Factory, session: Session) -> None:
    make.office()
    man, woman = make.couple()
    marriage = _register(make, man.id, woman.id)
    session.flush()
    with pytest.raises(DBAPIError, match=r"history|append-only"), session.begin_nested():
        session.execute(delete(Marriage).where(Marriage.id == marriage.id))
