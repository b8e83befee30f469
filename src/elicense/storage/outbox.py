"""Transactional outbox for domain events.

A part that changes state calls :func:`emit` inside the same transaction as the change,
so the event exists if and only if the change committed. Consumers (issuance, status)
read pending events in order with :func:`pending`, act idempotently, and mark each
event handled with :func:`mark_handled` for their consumer name, in the transaction that
applies their own change. A crash anywhere leaves either both or neither.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from elicense import clock
from elicense.storage.base import Base

EVENT_TYPES = frozenset(
    {
        "person.registered",
        "person.updated",
        "marriage.registered",
        "marriage.dissolved",
        "appointment.booked",
        "appointment.cancelled",
        "appointment.rescheduled",
        "health_enrollment.registered",
        "health_enrollment.cancelled",
        "travel_permit.issued",
        "travel_permit.endorsed",
        "travel_permit.cancelled",
    }
)


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    aggregate_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


class OutboxDelivery(Base):
    """One row per (event, consumer) that has been handled."""

    __tablename__ = "outbox_deliveries"

    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    handled_at: Mapped[dt.datetime]


def emit(session: Session, event_type: str, aggregate_id: str, payload: dict[str, Any]) -> None:
    """Record a domain event in the caller's transaction. Payloads carry ids, not PII."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    session.add(
        OutboxEvent(
            event_type=event_type,
            aggregate_id=aggregate_id,
            payload=payload,
            created_at=clock.now(),
        )
    )


def pending(session: Session, consumer: str, limit: int = 100) -> list[OutboxEvent]:
    """Events not yet handled by ``consumer``, oldest first."""
    handled = select(OutboxDelivery.event_id).where(OutboxDelivery.consumer == consumer)
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.id.not_in(handled))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def mark_handled(session: Session, event: OutboxEvent, consumer: str) -> None:
    """Mark ``event`` handled by ``consumer`` (in the consumer's own transaction)."""
    session.add(OutboxDelivery(event_id=event.id, consumer=consumer, handled_at=clock.now()))
