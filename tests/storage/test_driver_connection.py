"""A pooled driver connection for several transactions: errors, and not waiting for
SQLite's write lock when asked not to."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from elicense.errors import StorageError
from elicense.storage import migrate
from elicense.storage.db import PING_AFTER_IDLE_SECONDS, SQLITE_BUSY_TIMEOUT_MS, Database
from elicense.storage.prepared import (
    DriverConnection,
    WriteLockBusy,
    driver_connection,
    driver_cursor,
)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'driver.db'}")
    migrate.upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
    return db


def _busy_timeout(connection: DriverConnection) -> int:
    cursor = connection.connection.cursor()
    (value,) = cursor.execute("PRAGMA busy_timeout").fetchone()
    cursor.close()
    return int(value)


def _insert(connection: DriverConnection, value: int, *, wait: bool) -> None:
    with connection.transaction(write=True, wait=wait) as cursor:
        cursor.execute("INSERT INTO scratch VALUES (?)", (value,))


def test_write_without_waiting_gives_way_to_a_held_lock(
    sqlite_db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with driver_connection(sqlite_db.engine) as connection:
            with pytest.raises(WriteLockBusy):
                _insert(connection, 1, wait=False)
            # the connection waits again as configured, and nothing was written
            assert _busy_timeout(connection) == SQLITE_BUSY_TIMEOUT_MS
    finally:
        other.execute("ROLLBACK")
        other.close()
    with driver_connection(sqlite_db.engine) as connection:
        _insert(connection, 2, wait=False)
        with connection.transaction(write=False) as cursor:
            assert cursor.execute("SELECT x FROM scratch").fetchall() == [(2,)]
        assert _busy_timeout(connection) == SQLITE_BUSY_TIMEOUT_MS


def _insert_then_fail(connection: DriverConnection) -> None:
    with connection.transaction(write=True) as cursor:
        cursor.execute("INSERT INTO scratch VALUES (1)")
        raise RuntimeError("rolled back")


def _select_missing_table(connection: DriverConnection) -> None:
    with connection.storage_errors(), connection.transaction(write=False) as cursor:
        cursor.execute("SELECT * FROM no_such_table")


def test_one_connection_for_a_read_then_a_write(fresh_db: Database) -> None:
    with fresh_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
    with driver_connection(fresh_db.engine) as connection:
        with connection.transaction(write=False) as cursor:
            cursor.execute("SELECT count(*) FROM scratch")
            assert cursor.fetchone()[0] == 0
        with pytest.raises(RuntimeError):
            _insert_then_fail(connection)
        with connection.transaction(write=True) as cursor:
            cursor.execute("INSERT INTO scratch VALUES (2)")
    with fresh_db.engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM scratch")).all() == [(2,)]


def test_driver_errors_become_storage_errors(sqlite_db: Database) -> None:
    connection = DriverConnection.check_out(sqlite_db.engine)
    try:
        with pytest.raises(StorageError) as excinfo:
            _select_missing_table(connection)
        assert "no_such_table" in excinfo.value.message
        with connection.storage_errors(), connection.transaction(write=False) as cursor:
            assert cursor.execute("SELECT 1").fetchone() == (1,)  # still usable
    finally:
        connection.close()


def test_check_out_of_an_unreachable_database() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    with pytest.raises(StorageError) as excinfo:
        DriverConnection.check_out(db.engine)
    assert excinfo.value.message.startswith("database error:")
    with pytest.raises(StorageError) as excinfo, driver_cursor(db.engine, write=False):
        pass
    assert excinfo.value.message.startswith("database error:")


def test_one_statement_commits_on_its_own(fresh_db: Database) -> None:
    with fresh_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
    with driver_connection(fresh_db.engine) as connection:
        with connection.statement() as cursor:
            cursor.execute("INSERT INTO scratch VALUES (7)")
        # seen at once by another connection: nothing left open on this one
        with fresh_db.engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM scratch")).all() == [(7,)]


def test_the_pool_gets_the_connection_back_as_it_came(fresh_db: Database) -> None:
    """After a driver connection or an autocommit driver cursor (autocommit while
    checked out on PostgreSQL), the engine's own transactions still roll back as a
    whole."""
    with fresh_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
    for _ in range(3):  # every pooled connection has been through a driver connection
        with (
            driver_connection(fresh_db.engine) as connection,
            connection.transaction(write=False) as cursor,
        ):
            cursor.execute("SELECT count(*) FROM scratch")
        with driver_cursor(fresh_db.engine, write=False) as cursor:
            cursor.execute("SELECT count(*) FROM scratch")
    with pytest.raises(RuntimeError):
        _insert_with_the_engine_then_fail(fresh_db)
    with fresh_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scratch")).scalar() == 0


def _insert_with_the_engine_then_fail(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
        raise RuntimeError("rolled back")


def _backend_pid(db: Database) -> int:
    with driver_cursor(db.engine, write=False) as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


# a server whose connections can be cut: PostgreSQL only
_POSTGRES_ONLY = pytest.mark.parametrize(
    "fresh_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@_POSTGRES_ONLY
def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    fresh_db: Database, terminate: Callable[[Database, int], None]
) -> None:
    """A pooled connection idle longer than PING_AFTER_IDLE_SECONDS is pinged on
    check-out; a dead one is replaced and the caller never sees it."""
    pid = _backend_pid(fresh_db)
    terminate(fresh_db, pid)
    time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    assert _backend_pid(fresh_db) != pid  # a fresh connection, no error
    with driver_connection(fresh_db.engine) as connection, connection.statement() as cursor:
        cursor.execute("SELECT 1")


@_POSTGRES_ONLY
def test_a_busy_connection_cut_by_the_server_fails_once_and_is_discarded(
    fresh_db: Database, terminate: Callable[[Database, int], None]
) -> None:
    """Used again at once, a connection is not pinged: the request it serves fails with
    a StorageError (as one in flight would), and the pool never hands it out again."""
    pid = _backend_pid(fresh_db)
    terminate(fresh_db, pid)
    with pytest.raises(StorageError), driver_cursor(fresh_db.engine, write=False) as cursor:
        cursor.execute("SELECT 1")
    assert _backend_pid(fresh_db) != pid
    pid = _backend_pid(fresh_db)
    terminate(fresh_db, pid)
    with (
        pytest.raises(StorageError),
        driver_connection(fresh_db.engine) as connection,
        connection.transaction(write=False) as cursor,
    ):
        cursor.execute("SELECT 1")
    assert _backend_pid(fresh_db) != pid
