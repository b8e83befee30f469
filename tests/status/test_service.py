"""Status service: lists, random allocation, statuses, publishing (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.orm import Session

from elicense import clock
from elicense.crypto.trust import IssuerKey
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.status import check, service
from elicense.status.service import MIN_LIST_SIZE, SignerSource, list_uri
from elicense.status.token import TokenForm
from elicense.status.token_status_list import Status

BASE_URL = "https://issuer.example.gov.cn"


def _new_list(session: Session, bits: int = 2) -> str:
    return service.create_list(
        session, "marriage_license", signing_key="civil_affairs", bits=bits
    ).id


def _allocate(session: Session, list_id: str, ref: str) -> int:
    return service.allocate(session, list_id, ref, base_url=BASE_URL).idx


def test_create_list_has_at_least_2_17_entries(session: Session) -> None:
    info = service.get_list(session, _new_list(session))
    assert info.size >= MIN_LIST_SIZE
    assert (info.bits, info.version, info.closed) == (2, 1, False)
    assert info.id.startswith("sl_")


@pytest.mark.parametrize(
    ("size", "bits", "code"),
    [
        (MIN_LIST_SIZE - 1, 1, "status_list_too_small"),
        (MIN_LIST_SIZE, 3, "status_list_bits"),
    ],
)
def test_create_list_rejects_small_lists_and_odd_bits(
    session: Session, size: int, bits: int, code: str
) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        service.create_list(session, "x", signing_key="k", size=size, bits=bits)
    assert excinfo.value.instance_code == code


def test_unknown_list_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound) as excinfo:
        service.get_list(session, "sl_missing")
    assert excinfo.value.instance_code == "status_list_not_found"


def test_allocated_indices_are_distinct_random_and_not_sequential(session: Session) -> None:
    list_id = _new_list(session)
    indices = [_allocate(session, list_id, f"cred-{n}") for n in range(200)]
    assert len(set(indices)) == len(indices)
    steps = sum(1 for a, b in itertools.pairwise(indices) if b == a + 1)
    assert steps <= 2
    assert indices != sorted(indices)
    assert max(indices) - min(indices) > MIN_LIST_SIZE // 2


def test_allocation_is_idempotent_per_credential(session: Session) -> None:
    list_id = _new_list(session)
    first = service.allocate(session, list_id, "cred-1", base_url=BASE_URL)
    again = service.allocate(session, list_id, "cred-1", base_url=BASE_URL)
    assert first == again
    assert first.uri == f"{BASE_URL}/status/lists/{list_id}"
    assert first.to_claim() == {"status_list": {"idx": first.idx, "uri": first.uri}}
    assert service.find_allocation(session, "cred-1", base_url=BASE_URL) == first
    assert service.find_allocation(session, "cred-2", base_url=BASE_URL) is None


def test_a_collision_draws_again(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    list_id = _new_list(session)
    draws = iter([7, 7, 7, 9])
    monkeypatch.setattr("elicense.status.service.secrets.randbelow", lambda _n: next(draws))
    assert _allocate(session, list_id, "a") == 7
    assert _allocate(session, list_id, "b") == 9


def test_a_list_that_keeps_colliding_is_closed_and_allocate_for_moves_on(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("elicense.status.service.secrets.randbelow", lambda _n: 5)
    first = service.allocate_for(session, "health_card", "a", signing_key="k", base_url=BASE_URL)
    second = service.allocate_for(session, "health_card", "b", signing_key="k", base_url=BASE_URL)
    assert first.idx == second.idx == 5
    assert first.uri != second.uri
    closed = service.get_list(session, first.uri.rsplit("/", 1)[1])
    assert closed.closed
    with pytest.raises(Conflict) as excinfo:
        service.allocate(session, closed.id, "c", base_url=BASE_URL)
    assert excinfo.value.instance_code == "status_list_full"


def test_allocate_for_reuses_the_open_list(session: Session) -> None:
    a = service.allocate_for(session, "travel_pass", "a", signing_key="k", base_url=BASE_URL)
    b = service.allocate_for(session, "travel_pass", "b", signing_key="k", base_url=BASE_URL)
    assert a.uri == b.uri
    assert (
        service.allocate_for(session, "travel_pass", "a", signing_key="k", base_url=BASE_URL) == a
    )


def test_new_entries_are_valid_and_set_get_round_trips(session: Session) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred")
    assert service.get_status(session, list_id, index) is Status.VALID
    change = service.set_status(session, list_id, index, Status.SUSPENDED)
    assert (change.previous, change.current, change.version, change.changed) == (
        Status.VALID,
        Status.SUSPENDED,
        2,
        True,
    )
    assert service.get_status(session, list_id, index) is Status.SUSPENDED


def test_suspended_may_return_to_valid(session: Session) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred")
    service.set_status(session, list_id, index, Status.SUSPENDED)
    service.set_status(session, list_id, index, Status.VALID)
    assert service.get_status(session, list_id, index) is Status.VALID


def test_setting_the_same_status_is_a_no_op(session: Session) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred")
    service.set_status(session, list_id, index, Status.INVALID)
    again = service.set_status(session, list_id, index, Status.INVALID)
    assert not again.changed
    assert service.get_list(session, list_id).version == 2


@pytest.mark.parametrize("target", [Status.VALID, Status.SUSPENDED])
def test_revoked_is_final(session: Session, target: Status) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred")
    service.set_status(session, list_id, index, Status.INVALID)
    with pytest.raises(Conflict) as excinfo:
        service.set_status(session, list_id, index, target)
    assert excinfo.value.instance_code == "status_revoked_final"
    assert service.get_status(session, list_id, index) is Status.INVALID


def test_set_status_by_credential_reference(session: Session) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred-x")
    service.set_status_by_ref(session, "cred-x", Status.INVALID)
    assert service.get_status(session, list_id, index) is Status.INVALID
    with pytest.raises(NotFound) as excinfo:
        service.set_status_by_ref(session, "cred-unknown", Status.INVALID)
    assert excinfo.value.instance_code == "status_entry_not_found"


def test_one_bit_list_cannot_suspend(session: Session) -> None:
    list_id = _new_list(session, bits=1)
    index = _allocate(session, list_id, "cred")
    with pytest.raises(ValidationFailed) as excinfo:
        service.set_status(session, list_id, index, Status.SUSPENDED)
    assert excinfo.value.instance_code == "status_not_representable"
    service.set_status(session, list_id, index, Status.INVALID)


def test_unallocated_index_cannot_be_read_or_set(session: Session) -> None:
    list_id = _new_list(session)
    for call in (
        lambda: service.get_status(session, list_id, 3),
        lambda: service.set_status(session, list_id, 3, Status.INVALID),
    ):
        with pytest.raises(NotFound) as excinfo:
            call()
        assert excinfo.value.instance_code == "status_index_unallocated"


@pytest.mark.parametrize("form", list(TokenForm))
def test_publish_signs_a_token_that_check_accepts(
    session: Session, signers: SignerSource, issuer_keys: list[IssuerKey], form: TokenForm
) -> None:
    list_id = _new_list(session)
    valid = service.allocate(session, list_id, "ok", base_url=BASE_URL)
    revoked = service.allocate(session, list_id, "gone", base_url=BASE_URL)
    suspended = service.allocate(session, list_id, "paused", base_url=BASE_URL)
    service.set_status(session, list_id, revoked.idx, Status.INVALID)
    service.set_status(session, list_id, suspended.idx, Status.SUSPENDED)
    published = service.publish(session, list_id, form, signers, base_url=BASE_URL)
    token: str | bytes = published.token.decode() if form is TokenForm.JWT else published.token
    assert check.check_status(token, valid.to_claim(), issuer_keys) is Status.VALID
    assert check.read_status(token, revoked.to_claim(), issuer_keys) == Status.INVALID
    assert check.read_status(token, suspended.to_claim(), issuer_keys) == Status.SUSPENDED
    verified = check.verify_status_list_token(token, issuer_keys, uri=list_uri(BASE_URL, list_id))
    assert verified.form is form
    assert verified.ttl == service.DEFAULT_TTL_SECONDS
    assert verified.exp == verified.iat + service.DEFAULT_LIFETIME_SECONDS
    assert verified.status_list.size == MIN_LIST_SIZE


def test_publish_caches_per_version(session: Session, signers: SignerSource) -> None:
    list_id = _new_list(session)
    index = _allocate(session, list_id, "cred")
    with clock.frozen(1_800_000_000):
        first = service.publish(session, list_id, TokenForm.JWT, signers, base_url=BASE_URL)
    with clock.frozen(1_800_000_100):
        cached = service.publish(session, list_id, TokenForm.JWT, signers, base_url=BASE_URL)
        assert cached == first
        service.set_status(session, list_id, index, Status.INVALID)
        changed = service.publish(session, list_id, TokenForm.JWT, signers, base_url=BASE_URL)
    assert changed.version == first.version + 1
    assert changed.token != first.token
    assert changed.etag != first.etag


def test_publish_re_signs_a_token_past_half_its_lifetime(
    session: Session, signers: SignerSource
) -> None:
    list_id = _new_list(session)
    with clock.frozen(1_800_000_000):
        first = service.publish(session, list_id, TokenForm.CWT, signers, base_url=BASE_URL)
    with clock.frozen(1_800_000_000 + service.DEFAULT_LIFETIME_SECONDS // 2 + 1):
        later = service.publish(session, list_id, TokenForm.CWT, signers, base_url=BASE_URL)
    assert later.version == first.version
    assert later.issued_at > first.issued_at
    assert later.etag != first.etag
