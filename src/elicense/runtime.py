"""Start-up: settings → database (migrated) → sealing keys, with clear errors."""

from __future__ import annotations

import dataclasses

from elicense.config import Settings, load_settings
from elicense.storage import migrate
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """What a process needs to serve: settings, the database and the sealing keys."""

    settings: Settings
    db: Database
    sealer: Sealer


def open_runtime(settings: Settings | None = None, *, upgrade: bool = True) -> Runtime:
    """Open the database named by the settings, check it, migrate it, load keys."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    db.check_connection()
    if upgrade:
        migrate.upgrade(db)
    return Runtime(settings=settings, db=db, sealer=Sealer.from_environment(settings.keys_dir))
