"""Life events: the registry outbox drives the state of issued credentials.

:func:`process_pending` handles each pending event for consumer ``issuance`` in **one
transaction** with its status-list changes and :func:`outbox.mark_handled`, so the
registry change and the status change never diverge: a crash before the commit leaves
the event pending and nothing changed; running again applies it once.

* ``marriage.dissolved`` → every marriage license derived from that marriage (both
  spouses, every copy) is revoked;
* ``person.updated`` with changed fields → the person's credentials whose type the
  catalogue says is revoked by that change (``revoked_by … when_changed``), and a
  pending re-offer of each (same transaction; :mod:`elicense.issuance.reoffers`);
* ``health_enrollment.cancelled``, ``travel_permit.cancelled``/``endorsed`` → the
  credentials derived from that record;
* ``marriage.registered`` and other events revoke nothing (a re-married person is simply
  entitled again: a new offer works). Only a changed person field is re-offered: a
  divorce or a cancelled record is not.

Safe with several processes: the event row is claimed with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (SQLite serialises writers), the delivery row's primary key makes
``mark_handled`` unique, and revoking is idempotent.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock
from elicense.catalog.model import Catalog
from elicense.issuance import reoffers
from elicense.issuance.models import IssuedCredential
from elicense.status import service as status_service
from elicense.status.token_status_list import Status
from elicense.storage import outbox
from elicense.storage.db import Database
from elicense.storage.outbox import OutboxDelivery, OutboxEvent

log = logging.getLogger("elicense.issuance.events")

CONSUMER = "issuance"
#: Test hook: ``status`` makes the processor exit after the status change, before commit.
CRASH_HOOK_ENV = "ELICENSE_TEST_CRASH_AFTER"
#: ``person.updated`` payloads name coarse fields; the catalogue names columns.
HOUSEKEEPING_SECONDS = 60
_FIELD_ALIASES = {"name": ("name_zh", "name_latin")}
_SOURCE_EVENTS = frozenset(
    {
        "marriage.dissolved",
        "health_enrollment.cancelled",
        "travel_permit.cancelled",
        "travel_permit.endorsed",
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: int
    event_type: str
    revoked: tuple[str, ...]


def process_pending(db: Database, catalog: Catalog, *, limit: int = 100) -> list[EventOutcome]:
    """Handle every pending event (oldest first), one transaction each."""
    outcomes: list[EventOutcome] = []
    while True:
        with db.transaction() as session:
            ids = [e.id for e in outbox.pending(session, CONSUMER, limit=limit)]
        if not ids:
            return outcomes
        progressed = False
        for event_id in ids:
            outcome = _process_one(db, catalog, event_id)
            if outcome is not None:
                outcomes.append(outcome)
                progressed = True
        if not progressed:
            return outcomes


def _process_one(db: Database, catalog: Catalog, event_id: int) -> EventOutcome | None:
    try:
        with db.transaction() as session:
            event = _claim(session, event_id)
            if event is None:
                return None
            revoked = apply_event(session, catalog, event)
            _crash_hook("status")
            outbox.mark_handled(session, event, CONSUMER)
            session.flush()
            return EventOutcome(event.id, event.event_type, revoked)
    except IntegrityError:
        # Another process handled it first (delivery primary key); nothing to do.
        return None


def _claim(session: Session, event_id: int) -> OutboxEvent | None:
    """Lock the event row (skip it if another process holds it); None if already handled."""
    query = select(OutboxEvent).where(OutboxEvent.id == event_id)
    event = session.scalars(query.with_for_update(skip_locked=True)).one_or_none()
    if event is None or session.get(OutboxDelivery, (event_id, CONSUMER)) is not None:
        return None
    return event


def apply_event(session: Session, catalog: Catalog, event: OutboxEvent) -> tuple[str, ...]:
    """Revoke what ``event`` revokes (in the caller's transaction); the revoked ids. A
    changed person field also records re-offers (:mod:`elicense.issuance.reoffers`)."""
    changed = _changed_fields(event)
    types = [t.id for t in catalog.revoked_by(event.event_type, changed)]
    if not types:
        return ()
    query = select(IssuedCredential).where(
        IssuedCredential.configuration_id.in_(types), IssuedCredential.state != "revoked"
    )
    if event.event_type in _SOURCE_EVENTS:
        query = query.where(IssuedCredential.source_id == event.aggregate_id)
    else:
        query = query.where(IssuedCredential.person_id.in_(_person_ids(event)))
    rows = list(session.scalars(query.with_for_update()))
    revoked = tuple(_revoke(session, row) for row in rows)
    if event.event_type in reoffers.REOFFER_EVENTS:
        reoffers.record(session, event.id, rows)
    return revoked


def _revoke(session: Session, row: IssuedCredential) -> str:
    status_service.set_status_by_ref(session, row.id, Status.INVALID)
    row.state, row.state_changed_at = "revoked", clock.now()
    session.flush()
    return row.id


def _changed_fields(event: OutboxEvent) -> tuple[str, ...]:
    fields = event.payload.get("fields", ())
    names: list[str] = []
    for field in fields if isinstance(fields, list) else ():
        names.extend(_FIELD_ALIASES.get(str(field), (str(field),)))
    return tuple(names)


def _person_ids(event: OutboxEvent) -> list[str]:
    payload = event.payload
    people = payload.get("person_ids")
    if isinstance(people, list):
        return [str(p) for p in people]
    person = payload.get("person_id")
    return [str(person)] if person is not None else [event.aggregate_id]


def _crash_hook(point: str) -> None:
    """Test hook only: die without committing when ``ELICENSE_TEST_CRASH_AFTER`` names ``point``."""
    if os.environ.get(CRASH_HOOK_ENV) == point:
        log.warning("test crash hook %s=%s: exiting before commit", CRASH_HOOK_ENV, point)
        os._exit(3)


class EventLoop:
    """A daemon thread of a server process that processes events when woken or every
    ``interval`` seconds. :meth:`wake` is called after registry writes."""

    def __init__(self, db: Database, catalog: Catalog, *, interval: float = 5.0) -> None:
        self.db, self.catalog, self.interval = db, catalog, interval
        self._last_housekeeping = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elicense-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.interval)
            self._wake.clear()

    def run_once(self) -> None:
        try:
            handled = process_pending(self.db, self.catalog)
            if handled:
                log.info("processed %d life event(s)", len(handled))
            if clock.epoch() - self._last_housekeeping >= HOUSEKEEPING_SECONDS:
                self._last_housekeeping = clock.epoch()
                _housekeeping(self.db)
        except Exception as exc:  # noqa: BLE001 (the loop must survive; it retries later)
            log.error("life-event processing failed: %s", type(exc).__name__)


def _housekeeping(db: Database) -> None:
    from elicense.issuance.service import purge_expired

    with db.transaction() as session:
        purge_expired(session)


def revoked_ids(outcomes: Iterable[EventOutcome]) -> list[str]:
    return [credential_id for outcome in outcomes for credential_id in outcome.revoked]
