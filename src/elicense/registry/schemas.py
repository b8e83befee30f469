"""Request and response bodies of the registry API (pydantic), and their conversions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from elicense.registry import resident_id
from elicense.registry.types import (
    AppointmentRecord,
    AppointmentStatus,
    AuditRecord,
    MaritalState,
    MaritalStatus,
    MarriageRecord,
    OfficeRecord,
    PersonRecord,
    Sex,
    SlotRecord,
)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(Input):
    username: str = Field(max_length=32)
    password: str = Field(max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_at: dt.datetime
    role: str


class PersonIn(Input):
    id_number: str = Field(max_length=32, examples=["11010519491231002X"])
    name_zh: str = Field(max_length=64, examples=["张伟"])
    name_latin: str = Field(max_length=128, examples=["Zhang Wei"])
    sex: Sex
    birth_date: dt.date
    nationality: str = Field(default="CHN", max_length=3)
    household_region: str | None = Field(default=None, max_length=6)


class NameIn(Input):
    name_zh: str = Field(max_length=64)
    name_latin: str = Field(max_length=128)


class LookupIn(Input):
    id_number: str = Field(max_length=32)


class PersonOut(BaseModel):
    id: str
    id_number: str = Field(
        description="Masked (110101********4514) unless the caller is a registrar"
    )
    name_zh: str
    name_latin: str
    sex: Sex
    birth_date: dt.date
    nationality: str
    household_region: str
    has_reference_template: bool

    @classmethod
    def of(cls, person: PersonRecord, *, unmasked: bool) -> PersonOut:
        fields = dataclasses.asdict(person)
        if not unmasked:
            fields["id_number"] = resident_id.mask(person.id_number)
        return cls(**fields)


class OfficeIn(Input):
    code: str = Field(max_length=16, examples=["HZSC"])
    name: str = Field(max_length=128)
    region: str = Field(max_length=6, examples=["330102"])
    marriage_prefix: str | None = Field(default=None, max_length=16)
    divorce_prefix: str | None = Field(default=None, max_length=16)


class OfficeOut(BaseModel):
    code: str
    name: str
    region: str
    marriage_prefix: str
    divorce_prefix: str

    @classmethod
    def of(cls, office: OfficeRecord) -> OfficeOut:
        return cls(**dataclasses.asdict(office))


class SlotIn(Input):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=1000)


class SlotOut(BaseModel):
    id: str
    office_code: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    free: int

    @classmethod
    def of(cls, slot: SlotRecord) -> SlotOut:
        return cls(**dataclasses.asdict(slot), free=slot.free)


class BookingIn(Input):
    slot_id: str = Field(max_length=40)
    partner_id_numbers: tuple[str, str] = Field(description="Both partners' resident ID numbers")


class CodeIn(Input):
    code: str = Field(max_length=32)


class CancelIn(Input):
    code: str | None = Field(default=None, max_length=32)


class RescheduleIn(Input):
    slot_id: str = Field(max_length=40)
    code: str | None = Field(default=None, max_length=32)


class AppointmentOut(BaseModel):
    id: str
    slot_id: str
    office_code: str
    starts_at: dt.datetime
    partner_ids: tuple[str, str]
    confirmed: tuple[bool, bool]
    status: AppointmentStatus
    marriage_id: str | None
    reschedules: list[tuple[str, str]]

    @classmethod
    def of(cls, appointment: AppointmentRecord) -> AppointmentOut:
        return cls(**dataclasses.asdict(appointment))


class BookingOut(BaseModel):
    appointment: AppointmentOut
    confirmation_codes: tuple[str, str] = Field(
        description="One code per partner, in partner order. Production sends them by SMS."
    )


class MarriageIn(Input):
    office_code: str = Field(max_length=16)
    spouse_ids: tuple[str, str]
    registration_date: dt.date | None = None


class DissolutionIn(Input):
    office_code: str = Field(max_length=16)
    dissolution_date: dt.date | None = None


class MarriageOut(BaseModel):
    id: str
    certificate_number: str
    office_code: str
    registration_date: dt.date
    spouse_ids: tuple[str, str]
    active: bool
    dissolved_on: dt.date | None
    dissolution_office_code: str | None
    dissolution_number: str | None

    @classmethod
    def of(cls, marriage: MarriageRecord) -> MarriageOut:
        return cls(**dataclasses.asdict(marriage), active=marriage.active)


class MaritalStatusOut(BaseModel):
    person_id: str
    state: MaritalState
    current: MarriageOut | None
    history: list[MarriageOut]

    @classmethod
    def of(cls, status: MaritalStatus) -> MaritalStatusOut:
        return cls(
            person_id=status.person_id,
            state=status.state,
            current=MarriageOut.of(status.current) if status.current else None,
            history=[MarriageOut.of(m) for m in status.history],
        )


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, object]

    @classmethod
    def of(cls, entry: AuditRecord) -> AuditOut:
        return cls(**dataclasses.asdict(entry))
