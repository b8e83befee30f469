"""Alembic environment: runs on the connection handed in by :mod:`elicense.storage.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from elicense.storage.migrate import target_metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `elicense db upgrade`")
_run(connection)
