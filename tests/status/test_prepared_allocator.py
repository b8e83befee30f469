"""The issuer's hot-path allocation (compiled statements) and the list it falls back to."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from elicense import clock
from elicense.status import service
from elicense.status.models import StatusAllocation, StatusListRow
from elicense.status.service import NeedOpenList, PreparedAllocator, list_uri

BASE_URL = "https://issuer.example.gov.cn"


@pytest.fixture
def purpose() -> str:
    """A purpose of this test's own (the database is shared with other tests' lists)."""
    return f"test_{secrets.token_hex(6)}"


@pytest.fixture
def cursor(session: Session) -> Iterator[Any]:
    raw = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield raw
    finally:
        raw.close()


def _allocator(session: Session) -> PreparedAllocator:
    return PreparedAllocator(session.connection().dialect)


def test_no_open_list_asks_for_one(session: Session, cursor: Any, purpose: str) -> None:
    with pytest.raises(NeedOpenList) as need:
        _allocator(session).allocate(cursor, purpose, "cred_1", base_url=BASE_URL)
    assert (need.value.purpose, need.value.full) == (purpose, None)


def test_random_distinct_indices_on_the_newest_open_list(
    session: Session, cursor: Any, purpose: str
) -> None:
    list_id = service.open_list_for(session, purpose, signing_key="civil_affairs")
    assert service.open_list_for(session, purpose, signing_key="civil_affairs") == list_id
    session.flush()
    allocator = _allocator(session)
    refs = [allocator.allocate(cursor, purpose, f"cred_{i}", base_url=BASE_URL) for i in range(64)]
    assert {r.uri for r in refs} == {list_uri(BASE_URL, list_id)}
    indices = [r.idx for r in refs]
    assert len(set(indices)) == 64
    assert indices != sorted(indices)  # drawn at random, not handed out in order
    stored = session.execute(
        select(StatusAllocation.idx, StatusAllocation.credential_ref).where(
            StatusAllocation.list_id == list_id
        )
    )
    assert dict(stored.all()) == {r.idx: f"cred_{i}" for i, r in enumerate(refs)}


def test_a_full_list_is_closed_and_replaced(session: Session, cursor: Any, purpose: str) -> None:
    full = service.open_list_for(session, purpose, signing_key="civil_affairs")
    size = session.get(StatusListRow, full).size  # type: ignore[union-attr]
    now = clock.now()
    rows = [
        {"list_id": full, "idx": i, "credential_ref": f"old_{i}", "allocated_at": now}
        for i in range(size)
    ]
    session.execute(insert(StatusAllocation), rows)
    session.flush()
    allocator = _allocator(session)
    with pytest.raises(NeedOpenList) as need:
        allocator.allocate(cursor, purpose, "cred_new", base_url=BASE_URL)
    assert need.value.full == full
    fresh = service.open_list_for(session, purpose, signing_key="civil_affairs", full=full)
    session.flush()
    assert fresh != full
    assert session.get(StatusListRow, full).closed_at is not None  # type: ignore[union-attr]
    ref = allocator.allocate(cursor, purpose, "cred_new", base_url=BASE_URL)
    assert ref.uri == list_uri(BASE_URL, fresh)
