"""A few asynchronous PostgreSQL connections per event loop, for a hot path that would
otherwise hop to a thread for each statement.

On PostgreSQL every statement is a network round trip. Run from the event loop through
a thread pool, each one costs the hop (a future, a wake-up of the loop, the GIL handed
back and forth) on top of the driver's own work: about twice the client CPU of the
statement itself. :class:`AsyncConnections` keeps up to ``size`` psycopg
``AsyncConnection`` objects for the running loop instead, in autocommit mode, and hands
one to each caller in turn (``async with connections.connection() as conn``); a caller
that finds them all busy waits for one.

The connections are the engine's own settings (URL, driver arguments) and follow the
pool's rules: one idle for over :data:`~elicense.storage.db.PING_AFTER_IDLE_SECONDS` is
pinged before it is handed out (a restarted server or a cut link is found before a
request uses it, and a fresh connection is made); one that fails while in use fails its
caller with :class:`~elicense.errors.StorageError` and is closed, as is one given back
in any state but idle (an error or a cancellation in the middle of a statement). They
are closed by :func:`close_for_loop` (the app's shutdown), or, for a loop that ends
without it (an app served without its lifespan), when the loop is gone.

Only for ``postgresql+psycopg`` engines (:func:`supported`); everything else keeps the
thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine

from elicense.errors import StorageError
from elicense.storage.db import PING_AFTER_IDLE_SECONDS
from elicense.storage.prepared import storage_error

#: Connections per event loop (per server process): as many as a worker has responses
#: in flight at once in practice; more callers wait for one.
DEFAULT_SIZE = 4


def supported(engine: Engine) -> bool:
    """Whether ``engine``'s database can be used from the loop (PostgreSQL via psycopg)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


class AsyncConnections:
    """Up to ``size`` async connections to ``engine``'s database, for one event loop."""

    def __init__(self, engine: Engine, size: int = DEFAULT_SIZE) -> None:
        if not supported(engine):
            raise ValueError("asynchronous connections need a postgresql+psycopg engine")
        self.engine = engine
        self.dialect = engine.dialect
        self._args, self._kwargs = engine.dialect.create_connect_args(engine.url)
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._open: set[psycopg.AsyncConnection[Any]] = set()
        self._closed = False

    @property
    def open_count(self) -> int:
        """Connections open now, idle or in use."""
        return len(self._open)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for the caller alone until the block ends. Driver errors inside
        become :class:`~elicense.errors.StorageError` (the connection is closed)."""
        if self._closed:
            raise StorageError("database error: the connections are closed")
        async with self._slots:
            conn = await self._take()
            try:
                yield conn
            except psycopg.OperationalError as exc:
                await self._discard(conn)
                raise storage_error(exc) from None
            except BaseException:
                await self._discard(conn)
                raise
            else:
                await self._give_back(conn)

    async def aclose(self) -> None:
        """Close every idle connection; those in use are closed when given back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await self._discard(conn)

    def finish(self) -> None:
        """Close every connection at once, without the loop (its loop is gone)."""
        self._closed = True
        self._idle = []
        for conn in list(self._open):
            conn.pgconn.finish()
        self._open.clear()

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn, since = self._idle.pop()
            if time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
                return conn
            try:
                await conn.execute("SELECT 1")
                return conn
            except psycopg.Error:  # stale (server restarted, link cut): make a new one
                await self._discard(conn)
        try:
            conn = await psycopg.AsyncConnection.connect(
                *self._args, **self._kwargs, autocommit=True
            )
        except psycopg.OperationalError as exc:
            raise storage_error(exc) from None
        self._open.add(conn)
        return conn

    async def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            await self._discard(conn)
        else:
            self._idle.append((conn, time.monotonic()))

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._open.discard(conn)
        with contextlib.suppress(Exception):  # closing a broken connection may fail too
            await conn.close()


# The running loop's connections, per engine; an entry goes with its loop.
_by_loop: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[int, tuple[Engine, AsyncConnections]]
] = weakref.WeakKeyDictionary()


def for_running_loop(engine: Engine) -> AsyncConnections:
    """The running loop's connections to ``engine`` (made on first use)."""
    loop = asyncio.get_running_loop()
    mine = _by_loop.setdefault(loop, {})
    found = mine.get(id(engine))
    if found is None or found[0] is not engine:
        if found is not None:  # an engine gone, whose id was reused: its connections too
            found[1].finish()
        connections = AsyncConnections(engine)
        found = mine[id(engine)] = (engine, connections)
        weakref.finalize(loop, connections.finish)
    return found[1]


async def close_for_loop() -> None:
    """Close the running loop's connections (an app's shutdown)."""
    mine = _by_loop.pop(asyncio.get_running_loop(), {})
    for _, connections in mine.values():
        await connections.aclose()
