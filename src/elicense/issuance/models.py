"""Issuance tables: offers, access tokens, nonces, DPoP proof ids, issued credentials.

Secrets (pre-authorized codes, transaction codes, access tokens, nonces) are stored only
as SHA-256 hashes; the code is also kept sealed so the offer can be served by reference
until it is redeemed. Issued-credential rows never hold a claim value.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from elicense.storage.base import Base


class Offer(Base):
    __tablename__ = "issuance_offers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(40), index=True)
    configuration_ids: Mapped[list[str]] = mapped_column(JSON)
    verified_identity_id: Mapped[str] = mapped_column(String(40))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    tx_code_hash: Mapped[str | None] = mapped_column(String(64))
    tx_code_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    redeemed_at: Mapped[dt.datetime | None]


class AccessToken(Base):
    __tablename__ = "issuance_access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(40), index=True)
    person_id: Mapped[str] = mapped_column(String(40))
    configuration_ids: Mapped[list[str]] = mapped_column(JSON)
    dpop_jkt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class Nonce(Base):
    __tablename__ = "issuance_nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


class DpopJti(Base):
    """A DPoP proof id seen (per key), kept until the proof could no longer be accepted."""

    __tablename__ = "issuance_dpop_jtis"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class IssuedCredential(Base):
    """One issued credential: ids, type, status entry, times and state; no claim values."""

    __tablename__ = "issuance_credentials"
    __table_args__ = (
        UniqueConstraint("token_hash", "request_hash", "proof_index"),
        Index("ix_issuance_credentials_source", "configuration_id", "source_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(40), index=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(40))
    status_uri: Mapped[str] = mapped_column(String(256))
    status_idx: Mapped[int] = mapped_column(Integer)
    holder_jkt: Mapped[str] = mapped_column(String(64))
    notification_id: Mapped[str] = mapped_column(String(40), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    proof_index: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(16))
    state_changed_at: Mapped[dt.datetime]
