"""Retention on a schedule: every server process purges stored results past retention.

:class:`PurgeLoop` is one daemon thread per server process that runs
:func:`~elicense.verification.service.purge_expired` every ``interval`` seconds (default
60, ``ELICENSE_VERIFICATION_PURGE_INTERVAL``), first after a random fraction of the
interval so that workers started together do not all write at once. It is safe with
any number of workers: the purge is one idempotent ``UPDATE … SET result_sealed = NULL``
on expired rows; a worker that loses a race (or meets a locked SQLite file) logs it and
tries again at the next tick. Results past retention are already refused by
:func:`~elicense.verification.service.fetch_result`; this removes the stored values.
``elicense rp purge`` does the same once, for cron.

:func:`lifespan` is the verification router's lifespan (FastAPI merges it into the
app's): it runs the loop only in server processes (``runtime.background_events``), the
same processes that run the life-event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
from collections.abc import AsyncIterator
from typing import Any

from elicense.errors import ConfigError
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.verification import service

log = logging.getLogger("elicense.verification")
PURGE_INTERVAL_ENV = "ELICENSE_VERIFICATION_PURGE_INTERVAL"
DEFAULT_INTERVAL = 60.0


def purge_once(db: Database) -> int:
    """Drop every stored result past retention; the number of results dropped."""
    with db.transaction() as session:
        return service.purge_expired(session)


class PurgeLoop:
    def __init__(self, db: Database, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.db, self.interval = db, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elicense-purge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        delay = random.uniform(0, self.interval)  # noqa: S311 (jitter, not a secret)
        while not self._stop.wait(delay):
            self.run_once()
            delay = self.interval

    def run_once(self) -> None:
        try:
            purged = purge_once(self.db)
            if purged:
                log.info("purged %d verification result(s) past retention", purged)
        except Exception as exc:  # noqa: BLE001 (the loop must survive; it retries later)
            log.warning("verification purge failed: %s", type(exc).__name__)


def interval_from_env() -> float:
    raw = os.environ.get(PURGE_INTERVAL_ENV)
    if raw is None:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{PURGE_INTERVAL_ENV} must be a positive number of seconds")
    return value


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    loop = None
    if runtime is not None and runtime.background_events:
        loop = PurgeLoop(runtime.db, interval=interval_from_env())
        loop.start()
    try:
        yield
    finally:
        if loop is not None:
            loop.stop()
