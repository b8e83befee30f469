"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from elicense.storage.db import Database


@pytest.fixture
def terminate() -> Callable[[Database, int], None]:
    """Cut a PostgreSQL backend by its pid, as a server restart or a cut link would,
    from a connection of its own (outside the connections under test)."""

    def cut(db: Database, pid: int) -> None:
        admin = Database(db.url)
        try:
            with admin.engine.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            admin.dispose()

    return cut
