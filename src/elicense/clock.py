"""The one clock of eLicense.

Everything that needs the time asks :func:`now` (timezone-aware UTC) or :func:`epoch`
(whole seconds). Tests move time with :func:`frozen`, never by patching ``datetime``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

_offset_seconds: float = 0.0
_frozen_at: float | None = None


def _seconds() -> float:
    return (_frozen_at if _frozen_at is not None else time.time()) + _offset_seconds


def now() -> dt.datetime:
    """Current time, timezone-aware UTC."""
    return dt.datetime.fromtimestamp(_seconds(), tz=dt.UTC)


def epoch() -> int:
    """Current time as whole seconds since the Unix epoch (JWT ``iat``/``exp`` style)."""
    return int(_seconds())


def today() -> dt.date:
    """Current date in UTC+8 (China Standard Time), the registry's civil date."""
    return (now() + dt.timedelta(hours=8)).date()


@contextlib.contextmanager
def frozen(at: dt.datetime | float) -> Iterator[None]:
    """Freeze the clock at ``at`` for the duration of the block (tests, demos)."""
    global _frozen_at
    previous = _frozen_at
    _frozen_at = at.timestamp() if isinstance(at, dt.datetime) else float(at)
    try:
        yield
    finally:
        _frozen_at = previous


@contextlib.contextmanager
def shifted(seconds: float) -> Iterator[None]:
    """Move the clock by ``seconds`` (positive: into the future) within the block."""
    global _offset_seconds
    _offset_seconds += seconds
    try:
        yield
    finally:
        _offset_seconds -= seconds
