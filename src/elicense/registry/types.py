"""Typed values the registry hands to other parts (never its ORM rows).

Personal fields are left out of ``repr`` so that a record logged by mistake does not
leak a name or an ID number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from elicense.registry.resident_id import Sex

__all__ = [
    "IMPORTER",
    "PUBLIC",
    "SYSTEM",
    "Actor",
    "AppointmentRecord",
    "AppointmentStatus",
    "AuditRecord",
    "BookingReceipt",
    "ClerkRecord",
    "IssuedToken",
    "MaritalState",
    "MaritalStatus",
    "MarriageRecord",
    "NewPerson",
    "OfficeRecord",
    "PersonRecord",
    "ReferenceTemplate",
    "Role",
    "Sex",
    "SlotRecord",
]


class Role(enum.StrEnum):
    REGISTRAR = "registrar"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action: a clerk (with a role) or the system itself."""

    id: str
    role: Role | None = None
    username: str | None = None


SYSTEM = Actor("system")
PUBLIC = Actor("public")
IMPORTER = Actor("import")


@dataclasses.dataclass(frozen=True, slots=True)
class NewPerson:
    """What is needed to register a person; ``household_region`` defaults to the number's."""

    id_number: str = dataclasses.field(repr=False)
    name_zh: str = dataclasses.field(repr=False)
    name_latin: str = dataclasses.field(repr=False)
    sex: Sex
    birth_date: dt.date = dataclasses.field(repr=False)
    nationality: str = "CHN"
    household_region: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PersonRecord:
    id: str
    id_number: str = dataclasses.field(repr=False)
    name_zh: str = dataclasses.field(repr=False)
    name_latin: str = dataclasses.field(repr=False)
    sex: Sex
    birth_date: dt.date = dataclasses.field(repr=False)
    nationality: str
    household_region: str
    has_reference_template: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ReferenceTemplate:
    template: bytes = dataclasses.field(repr=False)
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class OfficeRecord:
    code: str
    name: str
    region: str
    marriage_prefix: str
    divorce_prefix: str


@dataclasses.dataclass(frozen=True, slots=True)
class SlotRecord:
    id: str
    office_code: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        return self.capacity - self.booked


class AppointmentStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


@dataclasses.dataclass(frozen=True, slots=True)
class AppointmentRecord:
    id: str
    slot_id: str
    office_code: str
    starts_at: dt.datetime
    partner_ids: tuple[str, str]
    confirmed: tuple[bool, bool]
    status: AppointmentStatus
    marriage_id: str | None
    reschedules: tuple[tuple[str, str], ...]
    """Each reschedule as ``(from_slot_id, to_slot_id)``, oldest first."""


@dataclasses.dataclass(frozen=True, slots=True)
class BookingReceipt:
    """A new appointment and the one-time confirmation code of each partner (SMS)."""

    appointment: AppointmentRecord
    confirmation_codes: tuple[str, str] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class MarriageRecord:
    id: str
    certificate_number: str
    office_code: str
    registration_date: dt.date
    spouse_ids: tuple[str, str]
    dissolved_on: dt.date | None
    dissolution_office_code: str | None
    dissolution_number: str | None

    @property
    def active(self) -> bool:
        return self.dissolved_on is None


class MaritalState(enum.StrEnum):
    NEVER_MARRIED = "never_married"
    MARRIED = "married"
    DIVORCED = "divorced"


@dataclasses.dataclass(frozen=True, slots=True)
class MaritalStatus:
    person_id: str
    state: MaritalState
    current: MarriageRecord | None
    history: tuple[MarriageRecord, ...]
    """Every marriage of the person, oldest first (dissolved ones included)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClerkRecord:
    id: str
    username: str
    role: Role
    active: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.role, self.username)


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str = dataclasses.field(repr=False)
    expires_at: dt.datetime
    clerk: ClerkRecord


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, object]
