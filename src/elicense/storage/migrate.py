"""Schema migrations (Alembic), applied by ``elicense db upgrade`` and at start.

Each part owns a migration branch (``branch_labels``) rooted at the storage base
revision, so parts evolve their tables independently; ``upgrade`` applies all heads.
"""

from __future__ import annotations

import importlib

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from elicense.storage.base import Base
from elicense.storage.db import Database

# Modules that declare tables; importing them registers the tables on Base.metadata.
MODEL_MODULES = (
    "elicense.storage.outbox",
    "elicense.storage.ratelimit",
    "elicense.registry.models",
    "elicense.status.models",
    "elicense.proofing.models",
    "elicense.issuance.models",
    "elicense.issuance.reoffer_models",
    "elicense.verification.models",
)


def target_metadata() -> MetaData:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "elicense.storage:migrations")
    return cfg


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision of every part (idempotent)."""
    cfg = _config()
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")


def is_current(db: Database) -> bool:
    """True when every migration head has been applied."""
    heads = set(ScriptDirectory.from_config(_config()).get_heads())
    with db.engine.connect() as connection:
        applied = set(MigrationContext.configure(connection).get_current_heads())
    return applied == heads
