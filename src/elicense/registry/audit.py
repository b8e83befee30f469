"""The append-only audit log: who did what, when, to which ids (never personal data).

Rows are only ever inserted; triggers in migration ``0100_registry`` make ``UPDATE`` and
``DELETE`` fail on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense import clock
from elicense.registry.models import AuditEntry
from elicense.registry.types import Actor, AuditRecord

MAX_PAGE = 500


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction. ``details`` holds ids only."""
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=actor.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )


def entries(
    session: Session,
    *,
    limit: int = 100,
    before_id: int | None = None,
    target_id: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return [_record(row) for row in session.scalars(query)]


def _record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        details=dict(row.details),
    )
