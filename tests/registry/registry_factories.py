"""Factories for registry tests (persons with valid generated ID numbers, offices, slots)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from elicense import clock
from elicense.registry import resident_id, service
from elicense.registry.types import OfficeRecord, PersonRecord, Sex, SlotRecord
from elicense.storage.sealing import Sealer

_numbers = itertools.count(1)


def new_id_number(*, sex: Sex = Sex.MALE, birth_date: dt.date = dt.date(1990, 1, 1)) -> str:
    n = next(_numbers)
    region = f"3301{(n // 400) % 100:02d}"
    return resident_id.generate(
        region=region, birth_date=birth_date, sex=sex, sequence=(n % 400) * 2
    )


class Factory:
    def __init__(self, session: Session, sealer: Sealer) -> None:
        self.session = session
        self.sealer = sealer

    def person(
        self,
        *,
        sex: Sex = Sex.MALE,
        birth_date: dt.date = dt.date(1990, 1, 1),
        name_zh: str = "张伟",
        name_latin: str = "Zhang Wei",
    ) -> PersonRecord:
        new = service.NewPerson(
            id_number=new_id_number(sex=sex, birth_date=birth_date),
            name_zh=name_zh,
            name_latin=name_latin,
            sex=sex,
            birth_date=birth_date,
        )
        return service.create_person(self.session, self.sealer, new)

    def couple(self) -> tuple[PersonRecord, PersonRecord]:
        return (
            self.person(sex=Sex.MALE, name_zh="王磊", name_latin="Wang Lei"),
            self.person(sex=Sex.FEMALE, name_zh="李娜", name_latin="Li Na"),
        )

    def office(self, code: str = "HZSC", region: str = "330106") -> OfficeRecord:
        return service.create_office(
            self.session, code=code, name="杭州市上城区民政局婚姻登记处", region=region
        )

    def slot(self, office_code: str, *, capacity: int = 2, days_ahead: int = 1) -> SlotRecord:
        start = clock.now().replace(microsecond=0) + dt.timedelta(days=days_ahead)
        return service.create_slot(
            self.session,
            office_code=office_code,
            starts_at=start,
            ends_at=start + dt.timedelta(minutes=30),
            capacity=capacity,
        )
