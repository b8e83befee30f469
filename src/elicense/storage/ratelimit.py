"""Fixed-window request counters shared by every worker (rows in the database).

:func:`hit` counts one request for a (scope, client) pair in its own short transaction —
so the count survives even when the request itself fails and rolls back — and raises
:class:`~elicense.errors.RateLimited` past the limit. Client keys are stored hashed.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Integer, String, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from elicense import clock
from elicense.errors import RateLimited
from elicense.storage.base import Base
from elicense.storage.db import Database


class RateWindow(Base):
    __tablename__ = "rate_windows"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


def hit(db: Database, scope: str, client: str, limit: int, window_seconds: int = 60) -> None:
    """Count one request; raise ``RateLimited`` when ``client`` is over ``limit``."""
    window = clock.epoch() // window_seconds * window_seconds
    key = hashlib.sha256(client.encode()).hexdigest()
    with db.transaction() as session:
        count = _bump(session, scope, key, window)
        if count is None:  # the client's first request in this window
            count = _open_window(session, scope, key, window)
            session.execute(
                delete(RateWindow).where(
                    RateWindow.scope == scope, RateWindow.window_start < window - window_seconds
                )
            )
    if count > limit:
        raise RateLimited("too many requests from this client; wait a minute and try again")


def _open_window(session: Session, scope: str, key: str, window: int) -> int:
    try:
        with session.begin_nested():
            session.add(RateWindow(scope=scope, client_key=key, window_start=window, count=1))
    except IntegrityError:  # a concurrent first request created the row
        return _bump(session, scope, key, window) or 1
    return 1


def _bump(session: Session, scope: str, key: str, window: int) -> int | None:
    """The window's new count, or ``None`` when the window has no row yet."""
    return session.scalar(
        update(RateWindow)
        .where(
            RateWindow.scope == scope,
            RateWindow.client_key == key,
            RateWindow.window_start == window,
        )
        .values(count=RateWindow.count + 1)
        .returning(RateWindow.count)
    )
