"""Proofing tables (owned by ``proofing``): sessions, decisions, locks, verified identities.

No image, frame or embedding is ever stored here: a session keeps its challenge and its
outcome (scores and reason codes); each submitted frame leaves only its SHA-256, for
replay detection.
The ID number appears only as the registry's keyed blind index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from elicense.storage.base import Base


class ProofingSession(Base):
    __tablename__ = "proofing_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[str] = mapped_column(String(40))
    client_key: Mapped[str] = mapped_column(String(64))
    challenge: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending|processing|succeeded|failed
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    expires_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]
    decision: Mapped[dict[str, Any] | None]


class SeenFrame(Base):
    """SHA-256 of every frame ever submitted: a frame seen before is a replay."""

    __tablename__ = "proofing_seen_frames"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[dt.datetime]


class IdentityLock(Base):
    """A lock after too many failed sessions; kept (with who unlocked it) as history."""

    __tablename__ = "proofing_identity_locks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    locked_at: Mapped[dt.datetime]
    failures: Mapped[int] = mapped_column(Integer)
    unlocked_at: Mapped[dt.datetime | None]
    unlocked_by: Mapped[str | None] = mapped_column(String(64))


class VerifiedIdentity(Base):
    """A successful identity check, consumed once by issuance to make a credential offer."""

    __tablename__ = "proofing_verified_identities"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(40), index=True)
    method: Mapped[str] = mapped_column(String(16))  # face|in_person
    evidence: Mapped[str] = mapped_column(String(64))  # session id or clerk id
    verified_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]
