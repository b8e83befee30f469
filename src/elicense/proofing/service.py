"""Proofing sessions: challenge → frames → decision → verified identity (business rules).

A session is single-use, bound to one ID number and expires with its challenge. The
face engine runs *outside* any database transaction (it takes a few hundred ms): the
session is first claimed (``pending`` → ``processing``) and its frames' digests
recorded, then evaluated, then the outcome is stored. A frame that was ever submitted
before is a replay and fails the session. After :data:`MAX_FAILED_SESSIONS` failed
sessions in :data:`FAILURE_WINDOW` the ID number is locked until a clerk unlocks it.

On success the session yields a :class:`VerifiedIdentityRecord`; issuance consumes it
once (:func:`consume_verified_identity`) to make a credential offer. A registrar's
in-person check (:func:`record_in_person_check`) is the other, always-available route.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import (
    BadImage,
    Conflict,
    IdentityLocked,
    NotFound,
    ProofingError,
)
from elicense.proofing import engine
from elicense.proofing.challenge import Action, Challenge
from elicense.proofing.decision import ProofingDecision
from elicense.proofing.liveness import MAX_FRAMES, MIN_BURST_SECONDS, MIN_FRAMES
from elicense.proofing.models import (
    IdentityLock,
    ProofingSession,
    SeenFrame,
    VerifiedIdentity,
)
from elicense.registry import service as registry
from elicense.registry.audit import record as audit
from elicense.registry.types import Actor
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer

MAX_FAILED_SESSIONS = 5
FAILURE_WINDOW = dt.timedelta(hours=24)
VERIFIED_IDENTITY_TTL = dt.timedelta(minutes=15)
_INDEX_CONTEXT = "proofing.id_number"


@dataclasses.dataclass(frozen=True, slots=True)
class SessionView:
    """What a client may see of a session (no scores that would help an attacker tune)."""

    id: str
    status: str
    actions: tuple[str, ...]
    nonce: str
    expires_at: dt.datetime
    reasons: tuple[str, ...] = ()
    verified_identity_id: str | None = None
    min_frames: int = MIN_FRAMES
    max_frames: int = MAX_FRAMES
    min_burst_seconds: float = MIN_BURST_SECONDS


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedIdentityRecord:
    id: str
    person_id: str
    method: str
    verified_at: dt.datetime
    expires_at: dt.datetime


# --- locks ------------------------------------------------------------------------------


def _active_lock(session: Session, index: str) -> IdentityLock | None:
    return session.scalar(
        select(IdentityLock).where(
            IdentityLock.id_number_index == index, IdentityLock.unlocked_at.is_(None)
        )
    )


def _failures_since_unlock(session: Session, index: str) -> int:
    since = clock.now() - FAILURE_WINDOW
    last_unlock = session.scalar(
        select(func.max(IdentityLock.unlocked_at)).where(IdentityLock.id_number_index == index)
    )
    if last_unlock is not None and last_unlock > since:
        since = last_unlock
    count = session.scalar(
        select(func.count())
        .select_from(ProofingSession)
        .where(
            ProofingSession.id_number_index == index,
            ProofingSession.status == "failed",
            ProofingSession.completed_at >= since,
        )
    )
    return int(count or 0)


def unlock(session: Session, sealer: Sealer, id_number: str, *, actor: Actor) -> None:
    """A clerk lifts the lock on an ID number (recorded in the audit log)."""
    person = registry.find_person_by_id_number(session, sealer, id_number)
    lock = _active_lock(session, sealer.blind_index(person.id_number, _INDEX_CONTEXT))
    if lock is None:
        raise NotFound("this ID number is not locked", code="not_locked")
    lock.unlocked_at = clock.now()
    lock.unlocked_by = actor.id
    audit(session, actor, "proofing.unlock", "person", person.id)


def is_locked(session: Session, sealer: Sealer, id_number: str) -> bool:
    person = registry.find_person_by_id_number(session, sealer, id_number)
    return _active_lock(session, sealer.blind_index(person.id_number, _INDEX_CONTEXT)) is not None


# --- sessions ------------------------------------------------------------------------------


def start_session(session: Session, sealer: Sealer, id_number: str, client_key: str) -> SessionView:
    """Open a session for ``id_number``: a random two-action challenge with a deadline."""
    person = registry.find_person_by_id_number(session, sealer, id_number)
    index = sealer.blind_index(person.id_number, _INDEX_CONTEXT)
    if _active_lock(session, index) is not None:
        raise IdentityLocked(
            "too many failed face checks for this ID number; ask a civil-affairs clerk to unlock"
        )
    if registry.get_reference_template(session, sealer, person.id) is None:
        raise ProofingError(
            "no reference photo on record for this person; enrol at a service counter",
            code="no_reference_photo",
        )
    challenge = engine.start_challenge()
    row = ProofingSession(
        id=ids.new_id("prf"),
        id_number_index=index,
        person_id=person.id,
        client_key=hashlib.sha256(client_key.encode()).hexdigest(),
        challenge=_challenge_json(challenge),
        status="pending",
        created_at=clock.now(),
        expires_at=_at(challenge.expires_at),
    )
    session.add(row)
    return _view(row)


def get_session(session: Session, session_id: str) -> SessionView:
    return _view(_row(session, session_id))


def submit_frames(
    db: Database, sealer: Sealer, session_id: str, frames: Sequence[engine.CapturedFrame]
) -> SessionView:
    """Evaluate the burst for the session (single use) and record the outcome."""
    template = _claim(db, sealer, session_id, frames)
    with db.transaction() as session:
        challenge = _challenge(_row(session, session_id).challenge)
    try:
        decision = engine.evaluate_session(challenge, frames, template)
    except BadImage as error:
        _finish_failed(db, session_id, (error.instance_code,), None)
        raise
    return _finish(db, session_id, decision)


def _claim(
    db: Database, sealer: Sealer, session_id: str, frames: Sequence[engine.CapturedFrame]
) -> bytes:
    """pending → processing, record frame digests; returns the reference template."""
    if not frames:
        raise ProofingError("no frames were sent", code="no_frames")
    replayed = False
    with db.transaction() as session:
        row = _row(session, session_id)
        if row.status != "pending":
            raise Conflict("this proofing session was already used", code="session_used")
        if clock.now() > row.expires_at:
            raise Conflict(
                "this proofing session has expired; start a new one", code="session_expired"
            )
        claimed = session.execute(
            update(ProofingSession)
            .where(ProofingSession.id == session_id, ProofingSession.status == "pending")
            .values(status="processing")
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this proofing session was already used", code="session_used")
        replayed = _record_frames(session, session_id, frames)
        reference = registry.get_reference_template(session, sealer, row.person_id)
    if replayed:
        _finish_failed(db, session_id, ("replayed_frames",), None)
        raise ProofingError(
            "these frames were already used in another session", code="replayed_frames"
        )
    if reference is None:
        _finish_failed(db, session_id, ("no_reference_photo",), None)
        raise ProofingError("no reference photo on record", code="no_reference_photo")
    return reference.template


def _record_frames(
    session: Session, session_id: str, frames: Sequence[engine.CapturedFrame]
) -> bool:
    """Store each frame's digest; True when any was seen before (in any session)."""
    digests = {hashlib.sha256(frame.image).hexdigest() for frame in frames}
    seen = set(session.scalars(select(SeenFrame.digest).where(SeenFrame.digest.in_(digests))))
    now = clock.now()
    try:
        with session.begin_nested():
            session.add_all(
                SeenFrame(digest=d, session_id=session_id, seen_at=now)
                for d in sorted(digests - seen)
            )
    except IntegrityError:  # the same frames arrived in a concurrent session
        return True
    return bool(seen)


def _finish(db: Database, session_id: str, decision: ProofingDecision) -> SessionView:
    if not decision.accepted:
        return _finish_failed(db, session_id, decision.reasons, decision)
    with db.transaction() as session:
        row = _row(session, session_id)
        now = clock.now()
        row.status, row.completed_at, row.decision = "succeeded", now, _decision_json(decision)
        verified = VerifiedIdentity(
            id=ids.new_id("vid"),
            person_id=row.person_id,
            method="face",
            evidence=row.id,
            verified_at=now,
            expires_at=now + VERIFIED_IDENTITY_TTL,
        )
        session.add(verified)
        return _view(row, verified.id)


def _finish_failed(
    db: Database, session_id: str, reasons: Sequence[str], decision: ProofingDecision | None
) -> SessionView:
    with db.transaction() as session:
        row = _row(session, session_id)
        row.status, row.completed_at = "failed", clock.now()
        row.decision = _decision_json(decision) if decision else {"reasons": list(reasons)}
        session.flush()
        failures = _failures_since_unlock(session, row.id_number_index)
        if failures >= MAX_FAILED_SESSIONS and _active_lock(session, row.id_number_index) is None:
            session.add(
                IdentityLock(
                    id=ids.new_id("lck"),
                    id_number_index=row.id_number_index,
                    locked_at=clock.now(),
                    failures=failures,
                )
            )
        return _view(row)


# --- verified identities ------------------------------------------------------------------


def record_in_person_check(
    session: Session, sealer: Sealer, person_id: str, *, actor: Actor
) -> VerifiedIdentityRecord:
    """A registrar checked the person's identity card in person: the always-available route."""
    registry.require_role(actor, registry.Role.REGISTRAR)
    registry.get_person(session, sealer, person_id)
    now = clock.now()
    row = VerifiedIdentity(
        id=ids.new_id("vid"),
        person_id=person_id,
        method="in_person",
        evidence=actor.id,
        verified_at=now,
        expires_at=now + VERIFIED_IDENTITY_TTL,
    )
    session.add(row)
    audit(session, actor, "proofing.in_person_check", "person", person_id)
    return _identity(row)


def consume_verified_identity(
    session: Session, verified_identity_id: str
) -> VerifiedIdentityRecord:
    """Use a verified identity once (issuance turns it into an offer); else Conflict."""
    used = session.execute(
        update(VerifiedIdentity)
        .where(
            VerifiedIdentity.id == verified_identity_id,
            VerifiedIdentity.consumed_at.is_(None),
            VerifiedIdentity.expires_at > clock.now(),
        )
        .values(consumed_at=clock.now())
    )
    row = session.get(VerifiedIdentity, verified_identity_id)
    if row is None:
        raise NotFound("no such verified identity", code="verified_identity_unknown")
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "this identity check was already used or has expired; prove identity again",
            code="verified_identity_used",
        )
    return _identity(row)


def enroll_reference(
    session: Session, sealer: Sealer, person_id: str, image: bytes, *, actor: Actor
) -> None:
    """Make and store (sealed) the reference template from an ID-card photo."""
    template = engine.enroll(image)
    registry.set_reference_template(session, sealer, person_id, template, actor=actor)


# --- helpers ---------------------------------------------------------------------------------


def _row(session: Session, session_id: str) -> ProofingSession:
    row = session.get(ProofingSession, session_id)
    if row is None:
        raise NotFound("no such proofing session", code="session_unknown")
    return row


def _at(epoch_seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)


def _challenge_json(challenge: Challenge) -> dict[str, Any]:
    return {
        "actions": [str(a) for a in challenge.actions],
        "nonce": challenge.nonce,
        "issued_at": challenge.issued_at,
        "expires_at": challenge.expires_at,
    }


def _challenge(data: dict[str, Any]) -> Challenge:
    return Challenge(
        tuple(Action(a) for a in data["actions"]),
        str(data["nonce"]),
        float(data["issued_at"]),
        float(data["expires_at"]),
    )


def _decision_json(decision: ProofingDecision) -> dict[str, Any]:
    return {
        "accepted": decision.accepted,
        "reasons": list(decision.reasons),
        "matcher": decision.matcher,
        "match_score": decision.match_score,
        "threshold": decision.threshold,
        "same_person_min": decision.same_person_min,
        "actions_seen": list(decision.actions_seen),
        "frames_total": decision.frames_total,
        "frames_usable": decision.frames_usable,
        "passive": dataclasses.asdict(decision.passive),
    }


def _view(row: ProofingSession, verified_identity_id: str | None = None) -> SessionView:
    reasons = tuple(row.decision.get("reasons", ())) if row.decision else ()
    return SessionView(
        id=row.id,
        status=row.status,
        actions=tuple(row.challenge["actions"]),
        nonce=str(row.challenge["nonce"]),
        expires_at=row.expires_at,
        reasons=reasons,
        verified_identity_id=verified_identity_id,
    )


def _identity(row: VerifiedIdentity) -> VerifiedIdentityRecord:
    return VerifiedIdentityRecord(
        id=row.id,
        person_id=row.person_id,
        method=row.method,
        verified_at=row.verified_at,
        expires_at=row.expires_at,
    )
