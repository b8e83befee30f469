"""Tables owned by the status part: status lists, index allocations, signed-token cache.

* ``status_lists`` — one row per list: its purpose (the credential type it serves),
  ``bits`` per entry, ``size`` (entries, at least 2^17), the packed uncompressed bytes
  (the source of truth), the signing key name, a ``version`` bumped on every change
  (the HTTP ``ETag``), and ``closed_at`` once no more indices are handed out.
* ``status_allocations`` — one row per handed-out index; the primary key
  ``(list_id, idx)`` is the unique constraint that makes random allocation race-free.
  ``credential_ref`` is an opaque reference chosen by the caller (issuance), unique, so a
  retried request finds its index again instead of taking a second one.
* ``status_list_tokens`` — signed Status List Tokens keyed by ``(list_id, version,
  form)``, so serving a list does not re-sign it on every GET.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from elicense.storage.base import Base

LIST_ID_LENGTH = 40


class StatusListRow(Base):
    __tablename__ = "status_lists"

    id: Mapped[str] = mapped_column(String(LIST_ID_LENGTH), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), index=True)
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    signing_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]


class StatusAllocation(Base):
    __tablename__ = "status_allocations"

    list_id: Mapped[str] = mapped_column(ForeignKey("status_lists.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_ref: Mapped[str] = mapped_column(String(128), unique=True)
    allocated_at: Mapped[dt.datetime]


class StatusListToken(Base):
    __tablename__ = "status_list_tokens"

    list_id: Mapped[str] = mapped_column(ForeignKey("status_lists.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    form: Mapped[str] = mapped_column(String(8), primary_key=True)
    token: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)
