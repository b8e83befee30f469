"""Issuance fixtures: real issuer keys (shared per run), an app per fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from issuance_helpers import BASE_URL, Holder, TestClient

from elicense.catalog.loader import load_catalog
from elicense.catalog.model import Catalog
from elicense.config import load_settings
from elicense.issuance.keys import IssuerKeys
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(base_url=BASE_URL)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def issuer_keys(keys_dir: Path, catalog: Catalog) -> IssuerKeys:
    keys = IssuerKeys(keys_dir, (t.authority.signing_key for t in catalog), issuer_url=BASE_URL)
    keys.provision()
    return keys


@pytest.fixture(scope="session")
def sealer() -> Sealer:
    return Sealer.generate()


@pytest.fixture
def runtime(
    fresh_db: Database, catalog: Catalog, issuer_keys: IssuerKeys, sealer: Sealer, tmp_path: Path
) -> Runtime:
    settings = load_settings(
        {"ELICENSE_PUBLIC_BASE_URL": BASE_URL, "ELICENSE_DATA_DIR": str(tmp_path)}
    )
    return Runtime(settings, fresh_db, sealer, catalog=catalog, issuer_keys=issuer_keys)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def holder(client: TestClient) -> Holder:
    return Holder(client)
