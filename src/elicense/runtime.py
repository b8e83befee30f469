"""Start-up: settings → database (migrated) → sealing keys, catalogue and issuer keys."""

from __future__ import annotations

import dataclasses

from elicense.catalog.loader import load_catalog
from elicense.catalog.model import Catalog
from elicense.config import Settings, load_settings
from elicense.issuance.keys import IssuerKeys, catalog_key_names, open_issuer_keys
from elicense.storage import migrate
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """What a process needs to serve: settings, the database and the keys.

    ``catalog`` and ``issuer_keys`` are filled by :func:`open_runtime`; a runtime built
    by hand without ``issuer_keys`` serves no issuance and no status lists (503);
    ``background_events`` asks the web app to run the life-event processor in a thread.
    """

    settings: Settings
    db: Database
    sealer: Sealer
    catalog: Catalog | None = None
    issuer_keys: IssuerKeys | None = None
    background_events: bool = False


def open_runtime(settings: Settings | None = None, *, upgrade: bool = True) -> Runtime:
    """Open the database named by the settings, check it, migrate it, load keys."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    db.check_connection()
    if upgrade:
        migrate.upgrade(db)
    runtime = Runtime(settings=settings, db=db, sealer=Sealer.from_environment(settings.keys_dir))
    return dataclasses.replace(with_issuance(runtime), background_events=True)


def with_catalog(runtime: Runtime) -> Runtime:
    """``runtime`` with the credential catalogue (loaded from the package data)."""
    if runtime.catalog is not None:
        return runtime
    catalog = load_catalog(base_url=runtime.settings.public_base_url)
    return dataclasses.replace(runtime, catalog=catalog)


def with_issuance(runtime: Runtime) -> Runtime:
    """``runtime`` with the catalogue and the issuer keys in the store
    ``ELICENSE_ISSUER_KEYSTORE`` names: files under ``keys_dir`` (default) or an HSM,
    logged in to now so that a bad token or PIN stops the start with one line. Each
    authority's keys are created on first use."""
    runtime = with_catalog(runtime)
    catalog = runtime.catalog
    assert catalog is not None
    keys = runtime.issuer_keys or open_issuer_keys(runtime.settings, catalog_key_names(catalog))
    return dataclasses.replace(runtime, catalog=catalog, issuer_keys=keys)
