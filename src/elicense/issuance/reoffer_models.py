"""Issuance table for re-offers after a registry change, and the holder-key index.

``issuance_reoffers``: one row per (life event, person, credential type, source record)
whose credentials the event revoked because a person field changed (a new name). It
keeps the thumbprints of the holder keys those credentials were bound to (any of them
may claim the re-offer), the state (``pending`` → ``offered`` with the offer's id, or
``cancelled`` when the person is no longer entitled to that record) and an expiry (the
latest expiry of the revoked credentials: a re-offer never outlives what it replaces).
No claim value is stored.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from elicense.issuance.models import IssuedCredential
from elicense.storage.base import Base


class ReOffer(Base):
    __tablename__ = "issuance_reoffers"
    __table_args__ = (UniqueConstraint("event_id", "person_id", "configuration_id", "source_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str] = mapped_column(String(40), index=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(40))
    holder_jkts: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    offer_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    state_changed_at: Mapped[dt.datetime]


#: Holder authentication finds the person by key thumbprint (``holder_auth``).
HOLDER_JKT_INDEX = Index("ix_issuance_credentials_holder_jkt", IssuedCredential.holder_jkt)
