"""Registry test fixtures; the factories live in ``registry_factories``."""

from __future__ import annotations

import pytest
from registry_factories import Factory
from sqlalchemy.orm import Session

from elicense.storage.sealing import Sealer


@pytest.fixture(scope="session")
def sealer() -> Sealer:
    return Sealer.generate()


@pytest.fixture
def make(session: Session, sealer: Sealer) -> Factory:
    return Factory(session, sealer)
