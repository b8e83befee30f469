"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL.

* ``db`` — a migrated :class:`Database` per backend and test session (PostgreSQL: a
  throwaway database created for this run and dropped at the end).
* ``session`` — a session inside a transaction that is rolled back after the test.
* ``fresh_db`` — an empty migrated database per test for tests that must commit
  (concurrency, crash recovery); cleaned up afterwards.

PostgreSQL comes from ``ELICENSE_TEST_POSTGRES_URL`` (default: the local server,
database ``test``). When it cannot be reached its tests are skipped, unless
``ELICENSE_REQUIRE_POSTGRES=1`` (set by CI), in which case they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from elicense.storage import migrate
from elicense.storage.db import Database

POSTGRES_URL = os.environ.get(
    "ELICENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _postgres_admin_or_skip() -> str:
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        reason = f"PostgreSQL at {make_url(POSTGRES_URL).host} unreachable: {exc.orig}"
        if os.environ.get("ELICENSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ELICENSE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


class PostgresDatabases:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"elicense_t_{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _pg_databases() -> Iterator[PostgresDatabases]:
    pg = PostgresDatabases(_postgres_admin_or_skip())
    yield pg
    pg.drop_all()


def _new_database(backend: str, tmp_dir: Path, request: pytest.FixtureRequest) -> Database:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / f'{secrets.token_hex(4)}.db'}"
    else:
        url = request.getfixturevalue("_pg_databases").create()
    db = Database(url)
    migrate.upgrade(db)
    return db


@pytest.fixture(scope="session", params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database = _new_database(request.param, tmp_path_factory.mktemp("db"), request)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.engine.connect() as connection:
        transaction = connection.begin()
        sess = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield sess
        finally:
            sess.close()
            transaction.rollback()


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = _new_database(request.param, tmp_path, request)
    yield database
    database.dispose()
