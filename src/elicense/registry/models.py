"""Registry of record tables (owned by ``registry``; other parts use :mod:`.service`).

Invariants the database itself enforces (so that concurrent writers cannot break them):

* a person is in at most one active marriage — :class:`ActiveUnion` has the person as
  primary key; registration inserts a row per spouse, dissolution removes them, and the
  :class:`Marriage` rows themselves are never deleted (full history);
* a person holds at most one open appointment — :class:`ActiveBooking`, same pattern;
* a slot is never overbooked — ``booked <= capacity`` check, and bookings increment with
  a conditional ``UPDATE`` (see :mod:`.appointments`);
* the audit log is append-only — triggers (migration ``0100_registry``) refuse
  ``UPDATE`` and ``DELETE`` on SQLite and PostgreSQL.

Resident ID numbers are stored sealed (:class:`~elicense.storage.sealing.Sealer`) with a
blind index for look-up and uniqueness; never in plain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from elicense.storage.base import Base

ID = String(40)


class Person(Base):
    __tablename__ = "registry_persons"
    __table_args__ = (CheckConstraint("sex IN ('M', 'F')", name="sex"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_latin: Mapped[str] = mapped_column(String(128))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date]
    nationality: Mapped[str] = mapped_column(String(3))
    household_region: Mapped[str] = mapped_column(String(6))
    reference_template_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reference_template_updated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Office(Base):
    __tablename__ = "registry_offices"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(6))
    marriage_prefix: Mapped[str] = mapped_column(String(16))
    divorce_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]


class CertificateCounter(Base):
    """Last certificate sequence number per prefix and year (offices may share a prefix)."""

    __tablename__ = "registry_certificate_counters"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Slot(Base):
    __tablename__ = "registry_slots"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    office_code: Mapped[str] = mapped_column(ForeignKey("registry_offices.code"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime]
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer)


class Appointment(Base):
    __tablename__ = "registry_appointments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'completed')", name="status"
        ),
        CheckConstraint("partner_a_id <> partner_b_id", name="two_partners"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slot_id: Mapped[str] = mapped_column(ForeignKey("registry_slots.id"), index=True)
    partner_a_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    partner_b_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    code_hash_a: Mapped[str] = mapped_column(String(64))
    code_hash_b: Mapped[str] = mapped_column(String(64))
    confirmed_a_at: Mapped[dt.datetime | None]
    confirmed_b_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    marriage_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class AppointmentChange(Base):
    """History of an appointment: booked, confirmed, rescheduled, cancelled, completed."""

    __tablename__ = "registry_appointment_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("registry_appointments.id"), index=True)
    change: Mapped[str] = mapped_column(String(16))
    from_slot_id: Mapped[str | None] = mapped_column(ID)
    to_slot_id: Mapped[str | None] = mapped_column(ID)
    changed_at: Mapped[dt.datetime]


class ActiveBooking(Base):
    """One row per person holding an open (pending/confirmed) appointment."""

    __tablename__ = "registry_active_bookings"

    person_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("registry_appointments.id"))


class Marriage(Base):
    __tablename__ = "registry_marriages"
    __table_args__ = (CheckConstraint("spouse_a_id <> spouse_b_id", name="two_spouses"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    certificate_number: Mapped[str] = mapped_column(String(40), unique=True)
    office_code: Mapped[str] = mapped_column(ForeignKey("registry_offices.code"))
    registration_date: Mapped[dt.date]
    spouse_a_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    spouse_b_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    appointment_id: Mapped[str | None] = mapped_column(ID)
    dissolved_on: Mapped[dt.date | None]
    dissolution_office_code: Mapped[str | None] = mapped_column(ForeignKey("registry_offices.code"))
    dissolution_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ActiveUnion(Base):
    """One row per currently married person: the primary key makes bigamy impossible."""

    __tablename__ = "registry_active_unions"

    person_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), primary_key=True)
    marriage_id: Mapped[str] = mapped_column(ForeignKey("registry_marriages.id"), index=True)


class Clerk(Base):
    __tablename__ = "registry_clerks"
    __table_args__ = (CheckConstraint("role IN ('registrar', 'auditor', 'admin')", name="role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool]
    created_at: Mapped[dt.datetime]


class ApiToken(Base):
    """Bearer tokens, stored as SHA-256 of the (256-bit random) token."""

    __tablename__ = "registry_api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    clerk_id: Mapped[str] = mapped_column(ForeignKey("registry_clerks.id"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """Append-only: who did what, when, to which ids. Never personal data."""

    __tablename__ = "registry_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]]


class HealthEnrollment(Base):
    """A person's enrolment in a health insurance scheme (source of the health card)."""

    __tablename__ = "registry_health_enrollments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    card_number: Mapped[str] = mapped_column(String(32), unique=True)
    insured_region: Mapped[str] = mapped_column(String(6))
    scheme: Mapped[str] = mapped_column(String(32))
    enrolled_on: Mapped[dt.date]
    cancelled_on: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime]


class TravelPermit(Base):
    """A mainland–Hong Kong exit-entry permit and its current endorsement."""

    __tablename__ = "registry_travel_permits"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    endorsement_type: Mapped[str] = mapped_column(String(32))
    permitted_entries: Mapped[int] = mapped_column(Integer)
    endorsement_valid_from: Mapped[dt.date]
    endorsement_valid_until: Mapped[dt.date]
    cancelled_on: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
