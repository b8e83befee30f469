"""Mainland–Hong Kong travel permits and endorsements: the source of the travel pass."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.registry import audit
from elicense.registry.models import TravelPermit
from elicense.registry.persons import person_row
from elicense.registry.types import SYSTEM, Actor
from elicense.storage import outbox


@dataclasses.dataclass(frozen=True, slots=True)
class Endorsement:
    """An endorsement (签注): its type, permitted entries and validity window."""

    endorsement_type: str
    permitted_entries: int
    valid_from: dt.date
    valid_until: dt.date


@dataclasses.dataclass(frozen=True, slots=True)
class TravelPermitRecord:
    id: str
    person_id: str
    number: str = dataclasses.field(repr=False)
    endorsement: Endorsement
    cancelled_on: dt.date | None

    @property
    def active(self) -> bool:
        return self.cancelled_on is None and self.endorsement.valid_until >= clock.today()


def issue_travel_permit(
    session: Session,
    person_id: str,
    *,
    number: str,
    endorsement: Endorsement,
    actor: Actor = SYSTEM,
) -> TravelPermitRecord:
    """Record a permit with its first endorsement; emits ``travel_permit.issued``."""
    person_row(session, person_id, code="person_not_found")
    _check(endorsement)
    now = clock.now()
    row = TravelPermit(
        id=ids.new_id("tpm"),
        person_id=person_id,
        number=number,
        cancelled_on=None,
        created_at=now,
        updated_at=now,
    )
    _apply(row, endorsement)
    session.add(row)
    session.flush()
    _emit(session, "travel_permit.issued", row)
    audit.record(session, actor, "travel_permit.issue", "travel_permit", row.id)
    return record_of(row)


def endorse_travel_permit(
    session: Session, permit_id: str, endorsement: Endorsement, *, actor: Actor = SYSTEM
) -> TravelPermitRecord:
    """Replace the endorsement; emits ``travel_permit.endorsed`` (old passes are revoked)."""
    row = _row(session, permit_id, for_update=True)
    if row.cancelled_on is not None:
        raise Conflict("the permit is cancelled", code="permit_cancelled")
    _check(endorsement)
    _apply(row, endorsement)
    row.updated_at = clock.now()
    session.flush()
    _emit(session, "travel_permit.endorsed", row)
    audit.record(session, actor, "travel_permit.endorse", "travel_permit", row.id)
    return record_of(row)


def cancel_travel_permit(
    session: Session, permit_id: str, *, actor: Actor = SYSTEM
) -> TravelPermitRecord:
    """Cancel a permit; emits ``travel_permit.cancelled``."""
    row = _row(session, permit_id, for_update=True)
    if row.cancelled_on is not None:
        raise Conflict("the permit is already cancelled", code="permit_cancelled")
    row.cancelled_on, row.updated_at = clock.today(), clock.now()
    session.flush()
    _emit(session, "travel_permit.cancelled", row)
    audit.record(session, actor, "travel_permit.cancel", "travel_permit", row.id)
    return record_of(row)


def get_travel_permit(session: Session, permit_id: str) -> TravelPermitRecord:
    return record_of(_row(session, permit_id))


def active_travel_permit(session: Session, person_id: str) -> TravelPermitRecord | None:
    """The person's permit with a current endorsement, if any."""
    query = (
        select(TravelPermit)
        .where(TravelPermit.person_id == person_id, TravelPermit.cancelled_on.is_(None))
        .order_by(TravelPermit.created_at.desc())
    )
    for row in session.scalars(query):
        record = record_of(row)
        if record.active:
            return record
    return None


def _check(endorsement: Endorsement) -> None:
    if endorsement.permitted_entries < 1 or endorsement.valid_until < endorsement.valid_from:
        raise ValidationFailed("endorsement window or entries invalid", code="endorsement_invalid")


def _apply(row: TravelPermit, endorsement: Endorsement) -> None:
    row.endorsement_type = endorsement.endorsement_type
    row.permitted_entries = endorsement.permitted_entries
    row.endorsement_valid_from = endorsement.valid_from
    row.endorsement_valid_until = endorsement.valid_until


def _emit(session: Session, event_type: str, row: TravelPermit) -> None:
    payload: dict[str, object] = {"permit_id": row.id, "person_ids": [row.person_id]}
    outbox.emit(session, event_type, row.id, payload)


def _row(session: Session, permit_id: str, *, for_update: bool = False) -> TravelPermit:
    query = select(TravelPermit).where(TravelPermit.id == permit_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound("no such travel permit", code="permit_not_found")
    return row


def record_of(row: TravelPermit) -> TravelPermitRecord:
    return TravelPermitRecord(
        id=row.id,
        person_id=row.person_id,
        number=row.number,
        endorsement=Endorsement(
            endorsement_type=row.endorsement_type,
            permitted_entries=row.permitted_entries,
            valid_from=row.endorsement_valid_from,
            valid_until=row.endorsement_valid_until,
        ),
        cancelled_on=row.cancelled_on,
    )
