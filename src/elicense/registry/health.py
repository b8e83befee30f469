"""Health insurance enrolments: the registry record a health card derives from."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import audit
from elicense.registry.models import HealthEnrollment
from elicense.registry.persons import person_row
from elicense.registry.types import SYSTEM, Actor
from elicense.storage import outbox


@dataclasses.dataclass(frozen=True, slots=True)
class HealthEnrollmentRecord:
    id: str
    person_id: str
    card_number: str = dataclasses.field(repr=False)
    insured_region: str
    scheme: str
    enrolled_on: dt.date
    cancelled_on: dt.date | None

    @property
    def active(self) -> bool:
        return self.cancelled_on is None


def enroll_health(
    session: Session,
    person_id: str,
    *,
    card_number: str,
    insured_region: str,
    scheme: str,
    enrolled_on: dt.date | None = None,
    actor: Actor = SYSTEM,
) -> HealthEnrollmentRecord:
    """Enrol a person (one active enrolment at a time); emits ``health_enrollment.registered``."""
    person_row(session, person_id, code="person_not_found")
    if active_health_enrollment(session, person_id) is not None:
        raise Conflict("the person already has an active enrolment", code="already_enrolled")
    if not card_number.isalnum() or not insured_region.isdigit() or len(insured_region) != 6:
        raise ValidationFailed("card number or insured region malformed", code="enrolment_invalid")
    row = HealthEnrollment(
        id=ids.new_id("hen"),
        person_id=person_id,
        card_number=card_number,
        insured_region=insured_region,
        scheme=scheme,
        enrolled_on=enrolled_on or clock.today(),
        cancelled_on=None,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    payload: dict[str, object] = {"enrollment_id": row.id, "person_ids": [person_id]}
    outbox.emit(session, "health_enrollment.registered", row.id, payload)
    audit.record(session, actor, "health_enrollment.register", "health_enrollment", row.id)
    return record_of(row)


def cancel_health_enrollment(
    session: Session, enrollment_id: str, *, actor: Actor = SYSTEM
) -> HealthEnrollmentRecord:
    """End an enrolment; emits ``health_enrollment.cancelled`` (revokes the health cards)."""
    row = _row(session, enrollment_id, for_update=True)
    if row.cancelled_on is not None:
        raise Conflict("the enrolment is already cancelled", code="enrolment_cancelled")
    row.cancelled_on = clock.today()
    session.flush()
    payload: dict[str, object] = {"enrollment_id": row.id, "person_ids": [row.person_id]}
    outbox.emit(session, "health_enrollment.cancelled", row.id, payload)
    audit.record(session, actor, "health_enrollment.cancel", "health_enrollment", row.id)
    return record_of(row)


def get_health_enrollment(session: Session, enrollment_id: str) -> HealthEnrollmentRecord:
    return record_of(_row(session, enrollment_id))


def active_health_enrollment(session: Session, person_id: str) -> HealthEnrollmentRecord | None:
    """The person's active enrolment, if any."""
    query = select(HealthEnrollment).where(
        HealthEnrollment.person_id == person_id, HealthEnrollment.cancelled_on.is_(None)
    )
    row = session.scalars(query).first()
    return None if row is None else record_of(row)


def _row(session: Session, enrollment_id: str, *, for_update: bool = False) -> HealthEnrollment:
    query = select(HealthEnrollment).where(HealthEnrollment.id == enrollment_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound("no such health enrolment", code="enrolment_not_found")
    return row


def record_of(row: HealthEnrollment) -> HealthEnrollmentRecord:
    return HealthEnrollmentRecord(
        id=row.id,
        person_id=row.person_id,
        card_number=row.card_number,
        insured_region=row.insured_region,
        scheme=row.scheme,
        enrolled_on=row.enrolled_on,
        cancelled_on=row.cancelled_on,
    )
