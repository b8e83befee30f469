"""Races that must have exactly one winner, run with real threads on both backends."""

from __future__ import annotations

import threading
from collections.abc import Callable

from registry_factories import Factory

from elicense.errors import ELicenseError
from elicense.registry import service
from elicense.registry.types import MaritalState, PersonRecord, Sex
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer


def _race(jobs: list[Callable[[], object]]) -> list[str]:
    """Run ``jobs`` at the same moment; return "ok" or the error code of each."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def run(index: int) -> None:
        barrier.wait()
        try:
            jobs[index]()
            outcomes[index] = "ok"
        except ELicenseError as exc:
            outcomes[index] = exc.instance_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _setup(
    db: Database, sealer: Sealer, couples: int, capacity: int
) -> tuple[str, list[tuple[PersonRecord, PersonRecord]]]:
    with db.transaction() as session:
        make = Factory(session, sealer)
        make.office()
        slot = make.slot("HZSC", capacity=capacity)
        pairs = [make.couple() for _ in range(couples)]
    return slot.id, pairs


def test_concurrent_bookings_never_overbook(fresh_db: Database, sealer: Sealer) -> None:
    slot_id, pairs = _setup(fresh_db, sealer, couples=8, capacity=3)

    def book(man: PersonRecord, woman: PersonRecord) -> Callable[[], object]:
        def job() -> object:
            with fresh_db.transaction() as session:
                return service.book_appointment(
                    session,
                    sealer,
                    slot_id=slot_id,
                    partner_id_numbers=(man.id_number, woman.id_number),
                )

        return job

    outcomes = _race([book(m, w) for m, w in pairs])
    assert sorted(outcomes) == ["ok"] * 3 + ["slot_full"] * 5
    with fresh_db.transaction() as session:
        assert service.get_slot(session, slot_id).booked == 3


def test_concurrent_double_booking_of_one_person(fresh_db: Database, sealer: Sealer) -> None:
    with fresh_db.transaction() as session:
        make = Factory(session, sealer)
        make.office()
        slots = [make.slot("HZSC", days_ahead=d) for d in (1, 2, 3, 4)]
        man = make.person()
        women = [make.person(sex=Sex.FEMALE) for _ in slots]

    def book(slot_id: str, woman: PersonRecord) -> Callable[[], object]:
        def job() -> object:
            with fresh_db.transaction() as session:
                return service.book_appointment(
                    session,
                    sealer,
                    slot_id=slot_id,
                    partner_id_numbers=(man.id_number, woman.id_number),
                )

        return job

    outcomes = _race([book(s.id, w) for s, w in zip(slots, women, strict=True)])
    assert sorted(outcomes) == ["already_booked"] * 3 + ["ok"]
    with fresh_db.transaction() as session:
        assert sum(service.get_slot(session, s.id).booked for s in slots) == 1


def test_two_clerks_registering_the_same_person(fresh_db: Database, sealer: Sealer) -> None:
    with fresh_db.transaction() as session:
        make = Factory(session, sealer)
        make.office()
        make.office(code="HZXH", region="330106")
        man = make.person()
        women = [make.person(sex=Sex.FEMALE) for _ in range(4)]

    def register(office: str, woman: PersonRecord) -> Callable[[], object]:
        def job() -> object:
            with fresh_db.transaction() as session:
                return service.register_marriage(
                    session, office_code=office, spouse_ids=(man.id, woman.id)
                )

        return job

    offices = ["HZSC", "HZXH", "HZSC", "HZXH"]
    outcomes = _race([register(o, w) for o, w in zip(offices, women, strict=True)])
    assert sorted(outcomes) == ["already_married"] * 3 + ["ok"]
    with fresh_db.transaction() as session:
        status = service.marital_status(session, man.id)
        assert status.state is MaritalState.MARRIED
        assert len(status.history) == 1
        married = [w for w in women if service.marital_status(session, w.id).current]
        assert len(married) == 1


def test_concurrent_registrations_at_one_office_get_distinct_numbers(
    fresh_db: Database, sealer: Sealer
) -> None:
    _, pairs = _setup(fresh_db, sealer, couples=6, capacity=1)
    numbers: list[str] = []

    def register(man: PersonRecord, woman: PersonRecord) -> Callable[[], object]:
        def job() -> object:
            with fresh_db.transaction() as session:
                marriage = service.register_marriage(
                    session, office_code="HZSC", spouse_ids=(man.id, woman.id)
                )
            numbers.append(marriage.certificate_number)
            return marriage

        return job

    assert _race([register(m, w) for m, w in pairs]) == ["ok"] * 6
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == [1, 2, 3, 4, 5, 6]
