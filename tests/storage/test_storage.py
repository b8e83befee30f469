from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import Session

from elicense.errors import StorageError
from elicense.storage import migrate, outbox
from elicense.storage.db import Database


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, migrate.target_metadata())
    assert diff == []


def test_upgrade_is_idempotent_and_current(db: Database) -> None:
    migrate.upgrade(db)
    assert migrate.is_current(db)


def test_outbox_event_is_pending_until_handled(session: Session) -> None:
    outbox.emit(session, "marriage.registered", "mar_1", {"marriage_id": "mar_1"})
    outbox.emit(session, "marriage.dissolved", "mar_1", {"marriage_id": "mar_1"})
    session.flush()
    events = outbox.pending(session, "issuance")
    assert [e.event_type for e in events] == ["marriage.registered", "marriage.dissolved"]
    outbox.mark_handled(session, events[0], "issuance")
    session.flush()
    assert [e.event_type for e in outbox.pending(session, "issuance")] == ["marriage.dissolved"]
    assert len(outbox.pending(session, "status")) == 2


def test_outbox_rejects_unknown_event_type(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        outbox.emit(session, "marriage.exploded", "mar_1", {})


def test_outbox_event_vanishes_with_its_rolled_back_transaction(fresh_db: Database) -> None:
    def crash_before_commit() -> None:
        with fresh_db.transaction() as s:
            outbox.emit(s, "person.registered", "per_1", {"person_id": "per_1"})
            s.flush()
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    with fresh_db.transaction() as s:
        assert outbox.pending(s, "issuance") == []


def test_unreachable_database_gives_a_clear_error() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StorageError, match="cannot reach the database at"):
        db.check_connection()


def test_each_backend_is_the_real_thing(db: Database, request: pytest.FixtureRequest) -> None:
    """Guards against a silently substituted backend: the postgres run must be PostgreSQL."""
    expected = {"sqlite": "sqlite", "postgres": "postgresql"}[request.node.callspec.params["db"]]
    assert db.dialect == expected
