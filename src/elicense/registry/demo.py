"""A demo province (Hangzhou): offices, slots, a dozen persons, one married and one
divorced couple, and clerk accounts. Safe to run any number of times.

Persons' ID numbers are generated deterministically (valid check digits, fictional
people), so every run finds the same persons. Clerk passwords are generated afresh on
each run and returned, so the printed credentials always work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import string

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import NotFound
from elicense.registry import clerks, marriages, offices, persons, resident_id
from elicense.registry.models import Office, Slot
from elicense.registry.types import MaritalState, NewPerson, OfficeRecord, Role, Sex
from elicense.storage.sealing import Sealer

CHINA = dt.timezone(dt.timedelta(hours=8))
SLOT_HOURS = (9, 14)
SLOT_DAYS = 14
SLOT_CAPACITY = 4

OFFICES = (
    ("HZ-SC", "杭州市上城区民政局婚姻登记处", "330102"),
    ("HZ-XH", "杭州市西湖区民政局婚姻登记处", "330106"),
    ("HZ-BJ", "杭州市滨江区民政局婚姻登记处", "330108"),
)

# name_zh, name_latin, sex, birth date, household region
PEOPLE = (
    ("张伟", "Zhang Wei", Sex.MALE, dt.date(1990, 3, 15), "330106"),
    ("王芳", "Wang Fang", Sex.FEMALE, dt.date(1992, 7, 8), "330106"),
    ("李强", "Li Qiang", Sex.MALE, dt.date(1985, 11, 20), "330102"),
    ("刘洋", "Liu Yang", Sex.FEMALE, dt.date(1987, 2, 1), "330102"),
    ("陈杰", "Chen Jie", Sex.MALE, dt.date(1995, 5, 5), "330105"),
    ("杨静", "Yang Jing", Sex.FEMALE, dt.date(1996, 9, 30), "330105"),
    ("赵磊", "Zhao Lei", Sex.MALE, dt.date(1998, 12, 12), "330106"),
    ("黄丽", "Huang Li", Sex.FEMALE, dt.date(1999, 4, 18), "330106"),
    ("周涛", "Zhou Tao", Sex.MALE, dt.date(2001, 6, 1), "330108"),
    ("吴敏", "Wu Min", Sex.FEMALE, dt.date(2003, 1, 25), "330108"),
    ("徐明", "Xu Ming", Sex.MALE, dt.date(2006, 8, 8), "330109"),
    ("孙燕", "Sun Yan", Sex.FEMALE, dt.date(1993, 10, 10), "330110"),
)
MARRIED = (0, 1, "HZ-XH", dt.date(2019, 5, 20))
DIVORCED = (2, 3, "HZ-SC", dt.date(2012, 10, 1), dt.date(2021, 6, 15))
CLERKS = (
    ("demo.registrar", Role.REGISTRAR),
    ("demo.auditor", Role.AUDITOR),
    ("demo.admin", Role.ADMIN),
)


@dataclasses.dataclass(frozen=True, slots=True)
class DemoPerson:
    person_id: str
    id_number: str
    name_zh: str
    name_latin: str
    sex: Sex
    birth_date: dt.date


@dataclasses.dataclass(frozen=True, slots=True)
class DemoClerk:
    username: str
    role: Role
    password: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSeed:
    offices: tuple[OfficeRecord, ...]
    persons: tuple[DemoPerson, ...]
    married_couple: tuple[str, str]
    married_marriage_id: str
    divorced_couple: tuple[str, str]
    divorced_marriage_id: str
    clerks: tuple[DemoClerk, ...]
    slots_created: int

    @property
    def registrar(self) -> DemoClerk:
        return next(c for c in self.clerks if c.role is Role.REGISTRAR)

    @property
    def auditor(self) -> DemoClerk:
        return next(c for c in self.clerks if c.role is Role.AUDITOR)


def demo_id_number(index: int) -> str:
    """The (stable) ID number of demo person ``index``."""
    _, _, sex, born, region = PEOPLE[index]
    return resident_id.generate(region=region, birth_date=born, sex=sex, sequence=100 + 2 * index)


def seed_demo(session: Session, sealer: Sealer) -> DemoSeed:
    """Create whatever of the demo province is missing; return what demos need."""
    office_records = tuple(_office(session, *spec) for spec in OFFICES)
    slots_created = sum(_slots(session, code) for code, _, _ in OFFICES)
    people = tuple(_person(session, sealer, index) for index in range(len(PEOPLE)))
    married = _married(session, people[MARRIED[0]], people[MARRIED[1]])
    divorced = _divorced(session, people[DIVORCED[0]], people[DIVORCED[1]])
    return DemoSeed(
        offices=office_records,
        persons=people,
        married_couple=(people[MARRIED[0]].person_id, people[MARRIED[1]].person_id),
        married_marriage_id=married,
        divorced_couple=(people[DIVORCED[0]].person_id, people[DIVORCED[1]].person_id),
        divorced_marriage_id=divorced,
        clerks=tuple(_clerk(session, username, role) for username, role in CLERKS),
        slots_created=slots_created,
    )


def _office(session: Session, code: str, name: str, region: str) -> OfficeRecord:
    if session.get(Office, code) is not None:
        return offices.get_office(session, code)
    return offices.create_office(session, code=code, name=name, region=region)


def _slots(session: Session, office_code: str) -> int:
    existing = set(session.scalars(select(Slot.starts_at).where(Slot.office_code == office_code)))
    created = 0
    today = clock.today()
    for day in range(1, SLOT_DAYS + 1):
        date = today + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for hour in SLOT_HOURS:
            start = dt.datetime(date.year, date.month, date.day, hour, tzinfo=CHINA)
            if start.astimezone(dt.UTC) in existing:
                continue
            offices.create_slot(
                session,
                office_code=office_code,
                starts_at=start,
                ends_at=start + dt.timedelta(hours=2),
                capacity=SLOT_CAPACITY,
            )
            created += 1
    return created


def _person(session: Session, sealer: Sealer, index: int) -> DemoPerson:
    name_zh, name_latin, sex, born, region = PEOPLE[index]
    number = demo_id_number(index)
    try:
        record = persons.find_person_by_id_number(session, sealer, number)
    except NotFound:
        new = NewPerson(
            id_number=number,
            name_zh=name_zh,
            name_latin=name_latin,
            sex=sex,
            birth_date=born,
            household_region=region,
        )
        record = persons.create_person(session, sealer, new)
    return DemoPerson(record.id, number, name_zh, name_latin, sex, born)


def _married(session: Session, a: DemoPerson, b: DemoPerson) -> str:
    status = marriages.marital_status(session, a.person_id)
    if status.history:
        return status.history[0].id
    return marriages.register_marriage(
        session,
        office_code=MARRIED[2],
        spouse_ids=(a.person_id, b.person_id),
        registration_date=MARRIED[3],
    ).id


def _divorced(session: Session, a: DemoPerson, b: DemoPerson) -> str:
    status = marriages.marital_status(session, a.person_id)
    if status.history:
        return status.history[0].id
    marriage = marriages.register_marriage(
        session,
        office_code=DIVORCED[2],
        spouse_ids=(a.person_id, b.person_id),
        registration_date=DIVORCED[3],
    )
    marriages.dissolve_marriage(
        session, marriage.id, office_code=DIVORCED[2], dissolution_date=DIVORCED[4]
    )
    assert marriages.marital_status(session, a.person_id).state is MaritalState.DIVORCED
    return marriage.id


def _clerk(session: Session, username: str, role: Role) -> DemoClerk:
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    try:
        clerks.set_password(session, username, password)
    except NotFound:
        clerks.create_clerk(session, username=username, role=role, password=password)
    return DemoClerk(username, role, password)


def print_demo_seed(seed: DemoSeed) -> None:
    """Print what a demo user needs: offices, persons (fictional), clerk credentials."""
    typer.echo("demo province seeded (fictional people):")
    for office in seed.offices:
        typer.echo(f"  office {office.code}  {office.name}")
    typer.echo(f"  {seed.slots_created} new appointment slots over the next {SLOT_DAYS} days")
    for person in seed.persons:
        typer.echo(
            f"  person {person.person_id}  {person.id_number}  {person.name_zh} "
            f"({person.name_latin}), {person.sex.value}, born {person.birth_date}"
        )
    typer.echo(f"  married couple:  {' + '.join(seed.married_couple)}")
    typer.echo(f"  divorced couple: {' + '.join(seed.divorced_couple)}")
    for clerk in seed.clerks:
        typer.echo(f"  clerk {clerk.username} ({clerk.role.value})  password: {clerk.password}")
