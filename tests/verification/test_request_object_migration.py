"""Migration 0601: request objects move out of the request rows and back (downgrade),
with the rows already there (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from elicense import clock
from elicense.storage import migrate
from elicense.storage.db import Database


def _alembic(db: Database, verb: str, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "elicense.storage:migrations")
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        getattr(command, verb)(cfg, target)


def test_request_objects_move_to_their_own_table_and_back(fresh_db: Database) -> None:
    _alembic(fresh_db, "downgrade", "verification@0600_verification")
    now = clock.now()
    with fresh_db.engine.begin() as conn:
        old = sa.MetaData()
        rps = sa.Table("verification_rps", old, autoload_with=conn)
        requests = sa.Table("verification_requests", old, autoload_with=conn)
        conn.execute(
            rps.insert(),
            [
                {
                    "id": "rp_1",
                    "name": "Bank",
                    "uscc": "91350100M000100Y43",
                    "sector": "bank",
                    "region": "440300",
                    "client_host": "bank.example.com",
                    "client_id": "x509_san_dns:bank.example.com",
                    "grants": [],
                    "certificate_pem": "PEM",
                    "access_key_sealed": b"sealed",
                    "secret_sha256": "0" * 64,
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            requests.insert(),
            [
                {
                    "id": f"vpr_{i}",
                    "rp_id": "rp_1",
                    "nonce": f"nonce-{i}",
                    "purpose": "mortgage",
                    "dcql_query": {"credentials": []},
                    "response_mode": "direct_post",
                    "request_object": f"eyJ.request-object-{i}.sig",
                    "state": "pending",
                    "created_at": now,
                    "expires_at": now + dt.timedelta(minutes=5),
                }
                for i in range(3)
            ],
        )

    migrate.upgrade(fresh_db)
    assert migrate.is_current(fresh_db)
    with fresh_db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("verification_requests")}
        assert "request_object" not in columns
        moved = conn.execute(
            sa.text("SELECT request_id, request_object FROM verification_request_objects")
        ).all()
        nonces = conn.execute(sa.text("SELECT nonce FROM verification_requests")).scalars()
        assert sorted(nonces) == ["nonce-0", "nonce-1", "nonce-2"]
    assert sorted(moved) == [(f"vpr_{i}", f"eyJ.request-object-{i}.sig") for i in range(3)]

    _alembic(fresh_db, "downgrade", "verification@0600_verification")
    with fresh_db.engine.connect() as conn:
        assert "verification_request_objects" not in inspect(conn).get_table_names()
        back = conn.execute(sa.text("SELECT id, request_object FROM verification_requests")).all()
    assert sorted(back) == sorted(moved)
    migrate.upgrade(fresh_db)
    assert migrate.is_current(fresh_db)
