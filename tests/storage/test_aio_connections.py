"""The event loop's asynchronous PostgreSQL connections (storage.aio): reuse, the size
bound, the ping after idle, and what happens to a connection after an error, a
cancellation, the app's shutdown or the end of its loop."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from elicense.errors import StorageError
from elicense.storage import aio
from elicense.storage.db import PING_AFTER_IDLE_SECONDS, Database, make_engine

_POSTGRES_ONLY = pytest.mark.parametrize(
    "fresh_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def _pid(connections: aio.AsyncConnections) -> int:
    async with connections.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


def test_only_postgresql_through_psycopg_is_supported(tmp_path: Any) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert not aio.supported(sqlite)
    with pytest.raises(ValueError, match="postgresql"):
        aio.AsyncConnections(sqlite)
    sqlite.dispose()


@_POSTGRES_ONLY
def test_one_connection_is_reused_in_turn(fresh_db: Database) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)
        first, second = await _pid(connections), await _pid(connections)
        assert first == second
        assert connections.open_count == 1
        await connections.aclose()
        assert connections.open_count == 0

    asyncio.run(run())


@_POSTGRES_ONLY
def test_callers_beyond_the_size_wait_for_a_connection(fresh_db: Database) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine, size=2)
        most = 0

        async def hold() -> None:
            nonlocal most
            async with connections.connection() as conn:
                most = max(most, connections.open_count)
                await conn.execute("SELECT pg_sleep(0.02)")

        await asyncio.gather(*(hold() for _ in range(6)))
        assert most == 2
        assert connections.open_count == 2
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    fresh_db: Database, terminate: Callable[[Database, int], None]
) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)
        pid = await _pid(connections)
        terminate(fresh_db, pid)
        await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        assert await _pid(connections) != pid  # pinged, replaced: the caller sees nothing
        assert connections.open_count == 1
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_a_busy_connection_cut_by_the_server_fails_once_and_is_closed(
    fresh_db: Database, terminate: Callable[[Database, int], None]
) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)
        pid = await _pid(connections)
        terminate(fresh_db, pid)  # used again at once: not pinged
        with pytest.raises(StorageError, match="database error"):
            await _pid(connections)
        assert connections.open_count == 0
        assert await _pid(connections) != pid
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_a_statement_error_is_raised_as_is_and_its_connection_closed(
    fresh_db: Database,
) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)
        pid = await _pid(connections)
        with pytest.raises(psycopg.errors.UndefinedTable):
            async with connections.connection() as conn:
                await conn.execute("SELECT * FROM no_such_table")
        assert connections.open_count == 0
        assert await _pid(connections) != pid
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_a_connection_cancelled_in_a_statement_is_not_handed_out_again(
    fresh_db: Database,
) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)

        async def slow() -> None:
            async with connections.connection() as conn:
                await conn.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert connections.open_count == 0
        assert isinstance(await _pid(connections), int)  # a fresh one works
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_a_left_open_transaction_is_not_handed_out_again(fresh_db: Database) -> None:
    async def run() -> None:
        connections = aio.AsyncConnections(fresh_db.engine)
        async with connections.connection() as conn:
            await conn.execute("BEGIN")
        assert connections.open_count == 0
        await connections.aclose()

    asyncio.run(run())


@_POSTGRES_ONLY
def test_shutdown_closes_the_loops_connections(fresh_db: Database) -> None:
    async def run() -> list[psycopg.AsyncConnection[Any]]:
        connections = aio.for_running_loop(fresh_db.engine)
        assert aio.for_running_loop(fresh_db.engine) is connections
        held: list[psycopg.AsyncConnection[Any]] = []

        async def take() -> None:
            async with connections.connection() as conn:
                held.append(conn)
                await asyncio.sleep(0.05)

        await asyncio.gather(take(), take())
        await aio.close_for_loop()
        assert all(conn.closed for conn in held)
        with pytest.raises(StorageError, match="closed"):
            await _pid(connections)
        return held

    asyncio.run(run())


@_POSTGRES_ONLY
def test_a_loop_gone_without_shutdown_takes_its_connections_along(fresh_db: Database) -> None:
    held: list[psycopg.AsyncConnection[Any]] = []

    async def run() -> None:
        connections = aio.for_running_loop(fresh_db.engine)
        async with connections.connection() as conn:
            held.append(conn)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(run())
    loop.close()
    assert not held[0].closed
    del loop
    gc.collect()
    assert held[0].closed


def test_a_connect_error_is_a_storage_error() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")

    async def run() -> None:
        connections = aio.AsyncConnections(engine)
        with pytest.raises(StorageError, match="database error"):
            async with connections.connection():
                pass
        assert connections.open_count == 0

    asyncio.run(run())
    engine.dispose()
