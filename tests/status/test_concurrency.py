"""Concurrent issuers and revokers on committed transactions (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from elicense.status import service
from elicense.status.token_status_list import Status
from elicense.storage.db import Database

BASE_URL = "https://issuer.example.gov.cn"
THREADS = 6
PER_THREAD = 15


def _run_threads(work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _new_list(db: Database) -> str:
    with db.transaction() as session:
        return service.create_list(session, "marriage_license", signing_key="k").id


def test_concurrent_allocations_never_share_an_index(fresh_db: Database) -> None:
    list_id = _new_list(fresh_db)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def allocate(n: int) -> None:
        for i in range(PER_THREAD):
            ref = f"cred-{n}-{i}"
            with fresh_db.transaction() as session:
                idx = service.allocate(session, list_id, ref, base_url=BASE_URL).idx
            with lock:
                results.append((ref, idx))

    _run_threads(allocate)
    indices = [idx for _, idx in results]
    assert len(indices) == THREADS * PER_THREAD
    assert len(set(indices)) == len(indices)


def test_concurrent_allocations_of_one_credential_get_one_index(fresh_db: Database) -> None:
    list_id = _new_list(fresh_db)
    seen: list[int] = []

    def allocate(_n: int) -> None:
        with fresh_db.transaction() as session:
            seen.append(service.allocate(session, list_id, "same-cred", base_url=BASE_URL).idx)

    _run_threads(allocate)
    assert len(set(seen)) == 1


def test_concurrent_revocations_are_all_kept(fresh_db: Database) -> None:
    list_id = _new_list(fresh_db)
    with fresh_db.transaction() as session:
        indices = [
            service.allocate(session, list_id, f"c{n}", base_url=BASE_URL).idx
            for n in range(THREADS * 3)
        ]

    def revoke(n: int) -> None:
        for idx in indices[n * 3 : n * 3 + 3]:
            with fresh_db.transaction() as session:
                service.set_status(session, list_id, idx, Status.INVALID)

    _run_threads(revoke)
    with fresh_db.transaction() as session:
        assert all(service.get_status(session, list_id, i) is Status.INVALID for i in indices)
        assert service.get_list(session, list_id).version == 1 + len(indices)
