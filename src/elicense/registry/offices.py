"""Civil-affairs offices, their appointment slots, and certificate numbers.

An office issues marriage certificates numbered ``{marriage_prefix}-{year}-{nnnnnn}``
(e.g. ``J330106-2026-000123``) and divorce certificates ``{divorce_prefix}-…``; the
sequence restarts each year and comes from a counter row per prefix and year (shared
by offices with the same prefix), incremented atomically with ``UPDATE … RETURNING``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import audit
from elicense.registry.models import CertificateCounter, Office, Slot
from elicense.registry.resident_id import PROVINCE_CODES
from elicense.registry.types import SYSTEM, Actor, OfficeRecord, SlotRecord

CertificateKind = Literal["marriage", "divorce"]
_OFFICE_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,15}")
_PREFIX = re.compile(r"[A-Z][A-Z0-9]{1,15}")
CERTIFICATE_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{3,39}")
MAX_CAPACITY = 1000
MAX_SLOT_LENGTH = dt.timedelta(hours=12)


def create_office(
    session: Session,
    *,
    code: str,
    name: str,
    region: str,
    marriage_prefix: str | None = None,
    divorce_prefix: str | None = None,
    actor: Actor = SYSTEM,
) -> OfficeRecord:
    """Open an office; prefixes default to ``J<region>`` and ``L<region>``."""
    _check_office_fields(code, name, region)
    row = Office(
        code=code,
        name=name.strip(),
        region=region,
        marriage_prefix=_prefix(marriage_prefix or f"J{region}"),
        divorce_prefix=_prefix(divorce_prefix or f"L{region}"),
        created_at=clock.now(),
    )
    if session.get(Office, code) is not None:
        raise _office_exists()
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise _office_exists() from None
    audit.record(session, actor, "office.create", "office", code)
    return office_record(row)


def get_office(session: Session, code: str) -> OfficeRecord:
    return office_record(office_row(session, code))


def list_offices(session: Session) -> list[OfficeRecord]:
    return [office_record(row) for row in session.scalars(select(Office).order_by(Office.code))]


def create_slot(
    session: Session,
    *,
    office_code: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    capacity: int,
    actor: Actor = SYSTEM,
) -> SlotRecord:
    """Publish an appointment slot at an office."""
    office_row(session, office_code)
    _check_slot(starts_at, ends_at, capacity)
    row = Slot(
        id=ids.new_id("slot"),
        office_code=office_code,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        booked=0,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "slot.create", "slot", row.id, {"office_code": office_code})
    return slot_record(row)


def get_slot(session: Session, slot_id: str) -> SlotRecord:
    return slot_record(slot_row(session, slot_id))


def list_free_slots(
    session: Session,
    *,
    office_code: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 200,
) -> list[SlotRecord]:
    """Future slots with a free seat, earliest first."""
    query = (
        select(Slot)
        .where(Slot.booked < Slot.capacity, Slot.starts_at > max(start or clock.now(), clock.now()))
        .order_by(Slot.starts_at, Slot.id)
        .limit(min(max(limit, 1), 1000))
        .execution_options(populate_existing=True)
    )
    if office_code is not None:
        office_row(session, office_code)
        query = query.where(Slot.office_code == office_code)
    if end is not None:
        query = query.where(Slot.starts_at < end)
    return [slot_record(row) for row in session.scalars(query)]


def next_certificate_number(
    session: Session, office: Office, kind: CertificateKind, on: dt.date
) -> str:
    """The next certificate number of ``office`` for ``kind`` in the year of ``on``.

    The sequence belongs to the prefix (not the office), so offices sharing a prefix
    never hand out the same number.
    """
    prefix = office.marriage_prefix if kind == "marriage" else office.divorce_prefix
    _ensure_counter(session, prefix, on.year)
    bump = (
        update(CertificateCounter)
        .where(CertificateCounter.prefix == prefix, CertificateCounter.year == on.year)
        .values(last_number=CertificateCounter.last_number + 1)
        .returning(CertificateCounter.last_number)
        .execution_options(synchronize_session=False)
    )
    number = session.execute(bump).scalar_one()
    return f"{prefix}-{on.year}-{number:06d}"


def check_certificate_number(value: str) -> str:
    """Validate a certificate number given from outside (imports of legacy records)."""
    if not CERTIFICATE_NUMBER.fullmatch(value):
        raise ValidationFailed(
            "certificate number must be 4–40 upper-case letters, digits or -",
            code="certificate_number_invalid",
        )
    return value


# --- helpers shared inside the registry -----------------------------------------------


def office_row(session: Session, code: str) -> Office:
    row = session.get(Office, code)
    if row is None:
        raise NotFound("no office with this code", code="office_unknown")
    return row


def slot_row(session: Session, slot_id: str) -> Slot:
    query = select(Slot).where(Slot.id == slot_id).execution_options(populate_existing=True)
    row = session.scalar(query)
    if row is None:
        raise NotFound("no slot with this id", code="slot_unknown")
    return row


def office_record(row: Office) -> OfficeRecord:
    return OfficeRecord(
        code=row.code,
        name=row.name,
        region=row.region,
        marriage_prefix=row.marriage_prefix,
        divorce_prefix=row.divorce_prefix,
    )


def slot_record(row: Slot) -> SlotRecord:
    return SlotRecord(
        id=row.id,
        office_code=row.office_code,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        booked=row.booked,
    )


def _ensure_counter(session: Session, prefix: str, year: int) -> None:
    values = {"prefix": prefix, "year": year, "last_number": 0}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(CertificateCounter).values(**values).on_conflict_do_nothing())


def _check_office_fields(code: str, name: str, region: str) -> None:
    if not _OFFICE_CODE.fullmatch(code):
        raise ValidationFailed(
            "office code must be 2–16 upper-case letters, digits or -", code="office_code_invalid"
        )
    if not name.strip() or len(name) > 128:
        raise ValidationFailed("office name must be 1–128 characters", code="office_name_invalid")
    if not (region.isascii() and region.isdigit() and len(region) == 6):
        raise ValidationFailed("office region must be 6 digits", code="region_invalid")
    if int(region[:2]) not in PROVINCE_CODES:
        raise ValidationFailed("office region names no province", code="region_invalid")


def _prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value):
        raise ValidationFailed(
            "certificate prefix must be a capital letter and 1–15 letters or digits",
            code="certificate_prefix_invalid",
        )
    return value


def _check_slot(starts_at: dt.datetime, ends_at: dt.datetime, capacity: int) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValidationFailed("slot times must carry a time zone", code="slot_time_invalid")
    if not starts_at < ends_at <= starts_at + MAX_SLOT_LENGTH:
        raise ValidationFailed(
            "a slot must end after it starts and last at most 12 hours", code="slot_time_invalid"
        )
    if starts_at <= clock.now():
        raise ValidationFailed("a slot must start in the future", code="slot_in_past")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ValidationFailed(
            f"slot capacity must be 1–{MAX_CAPACITY}", code="slot_capacity_invalid"
        )


def _office_exists() -> Conflict:
    return Conflict("an office with this code already exists", code="office_exists")
