"""Fixtures for the face engine tests.

Tests marked ``faces`` need the real faces of ``../shared/data/faces`` (or
``ELICENSE_FACES_DIR``); without them they are skipped, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from face_data import faces_available, faces_dir

from elicense.proofing import parallel


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if faces_available():
        return
    if os.environ.get("ELICENSE_REQUIRE_FACES") == "1":
        raise pytest.UsageError(f"ELICENSE_REQUIRE_FACES=1 but no face data at {faces_dir()}")
    skip = pytest.mark.skip(reason=f"face test data not found at {faces_dir()}")
    for item in items:
        if "faces" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _stop_pools() -> Iterator[None]:
    yield
    parallel.shutdown()
