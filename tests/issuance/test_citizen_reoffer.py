"""Re-offer after a change of name, end to end through HTTP and ``elicense wallet refresh``;
no re-offer after a divorce; recorded once, in the revoking transaction (both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from citizen_helpers import (
    REOFFERS,
    as_holder,
    divorce,
    offer_link,
    receive,
    registrar,
    rename,
    wallet_cli_over,
)
from issuance_helpers import TestClient, married_couple
from sqlalchemy import select
from test_issuance_life_events import _run_processor, status_of
from typer.testing import CliRunner

from elicense import clock
from elicense.issuance import events, reoffers
from elicense.issuance.models import IssuedCredential
from elicense.registry import service as registry
from elicense.runtime import Runtime
from elicense.status.token_status_list import Status
from elicense.storage.outbox import OutboxEvent
from elicense.wallet import cli as wallet_cli
from elicense.wallet.citizen import Citizen
from elicense.wallet.store import StoredCredential, Wallet, WalletFile


def wallet(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(wallet_cli.wallet_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def process(runtime: Runtime) -> list[events.EventOutcome]:
    assert runtime.catalog is not None
    return events.process_pending(runtime.db, runtime.catalog)


def stored(path: Path) -> list[StoredCredential]:
    passphrase = "citizen wallet pass"
    return WalletFile.open(path, passphrase).load().list()


def test_name_change_refresh_and_divorce_end_to_end(
    runtime: Runtime, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runtime.db.transaction() as session:
        a, b, marriage_id = married_couple(session, runtime.sealer)
    process(runtime)  # registrations: nothing to revoke
    clerk = registrar(runtime, client)
    path = tmp_path / "a.wallet"
    with wallet_cli_over(client, monkeypatch):
        link = offer_link(runtime, client, a.id, ["marriage_license"])
        code, out, err = wallet("receive", link, "--wallet", str(path))
        assert code == 0, err
        [old] = stored(path)
        assert old.claims["holder"]["name"] == "王磊"

        code, out, err = wallet("refresh", "--wallet", str(path))
        assert (code, out.strip()) == (0, "nothing to refresh"), err

        rename(client, clerk, a.id, "王小磊", "Wang Xiaolei")
        assert [o.event_type for o in process(runtime)] == ["person.updated"]
        assert status_of(client, old.raw) == "revoked"

        code, out, err = wallet("refresh", "--wallet", str(path))
        assert code == 0, err
        [new] = stored(path)
        assert out.splitlines()[0] == f"refreshed 结婚证 / Marriage License: {old.id} -> {new.id}"
        assert "王磊 -> 王小磊" in out
        assert "Wang Lei -> Wang Xiaolei" in out
        assert new.claims["holder"]["name"] == "王小磊"
        assert new.holder_kid != old.holder_kid
        assert status_of(client, new.raw) is Status.VALID

        code, out, err = wallet("refresh", "--wallet", str(path))
        assert (code, out.strip()) == (0, "nothing to refresh"), err

        divorce(client, clerk, marriage_id)
        assert [o.event_type for o in process(runtime)] == ["marriage.dissolved"]
        assert status_of(client, new.raw) == "revoked"
        code, out, err = wallet("refresh", "--wallet", str(path))
        assert (code, out.strip()) == (0, "nothing to refresh"), err
        assert [c.id for c in stored(path)] == [new.id]  # kept (revoked), nothing replaced it
    with runtime.db.transaction() as session:
        assert [r.state for r in reoffers.reoffers_for(session, a.id)] == ["redeemed"]
        assert reoffers.reoffers_for(session, b.id) == []


def test_every_copy_is_replaced_and_the_spouse_gets_nothing(
    runtime: Runtime, client: TestClient
) -> None:
    with runtime.db.transaction() as session:
        a, b, _m = married_couple(session, runtime.sealer)
    mine, spouse = Wallet(), Wallet()
    copies = receive(runtime, client, mine, a.id, copies=3)
    [theirs] = receive(runtime, client, spouse, b.id)
    _rename(runtime, a.id)
    process(runtime)
    assert as_holder(client, spouse.signer_for(theirs), REOFFERS) == {"offers": []}
    report = Citizen(client).refresh(mine)
    [refreshed] = report.refreshed
    assert (report.skipped, report.failed) == ([], [])
    assert {c.id for c in refreshed.old} == {c.id for c in copies}
    assert len(refreshed.new) == 3  # as many copies as it replaced, each with its own key
    assert {c.id for c in mine.list()} == {c.id for c in refreshed.new}
    assert set(mine.keys) == {c.holder_kid for c in refreshed.new}
    assert Citizen(client).refresh(mine).refreshed == []


def test_an_unredeemed_offer_is_served_again_then_nothing(
    runtime: Runtime, client: TestClient
) -> None:
    """A lost answer is not a lost credential: asking again (any revoked copy's key) gets
    the same single-use offer until it is redeemed."""
    a, mine, copies = _renamed_with_copies(runtime, client, 2)
    one, other = (mine.signer_for(c) for c in copies)
    first = as_holder(client, one, REOFFERS)["offers"]
    again = as_holder(client, other, REOFFERS)["offers"]
    assert [o["offer_id"] for o in first] == [o["offer_id"] for o in again]
    [offer] = first
    assert offer["credential_configuration_id"] == "marriage_license"
    assert sorted(offer["replaces"]) == sorted(c.holder_kid for c in copies)
    assert "tx_code" not in offer["credential_offer"]["grants"][_PRE_AUTH]
    by_reference = client.get(offer["credential_offer_uri"])
    assert by_reference.json() == offer["credential_offer"]
    assert Citizen(client).refresh(mine).refreshed  # redeems it (and drops both copies)
    assert as_holder(client, other, REOFFERS) == {"offers": []}
    with runtime.db.transaction() as session:
        assert [r.state for r in reoffers.reoffers_for(session, a)] == ["redeemed"]


def test_an_expired_unredeemed_offer_is_replaced_by_a_new_one(
    runtime: Runtime, client: TestClient
) -> None:
    _a, mine, copies = _renamed_with_copies(runtime, client, 1)
    [first] = as_holder(client, mine.signer_for(copies[0]), REOFFERS)["offers"]
    with clock.shifted(11 * 60):
        [second] = as_holder(client, mine.signer_for(copies[0]), REOFFERS)["offers"]
        assert second["offer_id"] != first["offer_id"]
        assert client.get(first["credential_offer_uri"]).status_code == 404


def test_divorce_before_refresh_cancels_the_reoffer(runtime: Runtime, client: TestClient) -> None:
    a, mine, copies = _renamed_with_copies(runtime, client, 1)
    with runtime.db.transaction() as session:
        marriage = registry.marital_status(session, a).current
        assert marriage is not None
        registry.dissolve_marriage(session, marriage.id, office_code="HZSC")
    process(runtime)
    assert as_holder(client, mine.signer_for(copies[0]), REOFFERS) == {"offers": []}
    with runtime.db.transaction() as session:
        assert [r.state for r in reoffers.reoffers_for(session, a)] == ["cancelled"]


def test_a_reoffer_lapses_with_the_credential_it_replaces(
    runtime: Runtime, client: TestClient
) -> None:
    with runtime.db.transaction() as session:
        a, _b, _m = married_couple(session, runtime.sealer)
    mine = Wallet()
    [resident] = receive(runtime, client, mine, a.id, types=("resident_id",))
    _rename(runtime, a.id)
    process(runtime)
    assert resident.expires_at is not None
    with clock.frozen(resident.expires_at + 1):
        assert as_holder(client, mine.signer_for(resident), REOFFERS) == {"offers": []}
    [offer] = as_holder(client, mine.signer_for(resident), REOFFERS)["offers"]
    assert offer["credential_configuration_id"] == "resident_id"


def test_recorded_once_even_when_the_event_is_replayed(
    runtime: Runtime, client: TestClient
) -> None:
    a, _mine, copies = _renamed_with_copies(runtime, client, 2)
    assert runtime.catalog is not None
    with runtime.db.transaction() as session:
        [row] = reoffers.reoffers_for(session, a)
        assert sorted(row.holder_jkts) == sorted(c.holder_kid for c in copies)
        event = session.get(OutboxEvent, row.event_id)
        assert event is not None
        assert events.apply_event(session, runtime.catalog, event) == ()  # replay: nothing
        revoked = list(session.scalars(_credentials_of(a)))
        assert reoffers.record(session, event.id, revoked) == 0  # unique per event
        assert len(reoffers.reoffers_for(session, a)) == 1


@pytest.mark.slow
def test_a_crash_before_commit_leaves_neither_revocation_nor_reoffer(
    runtime: Runtime, client: TestClient
) -> None:
    a, _mine, [credential] = _licensed(runtime, client, 1)
    process(runtime)
    _rename(runtime, a)
    crashed = _run_processor(runtime, crash=True)
    assert crashed.returncode == 3, crashed.stderr
    assert status_of(client, credential.raw) is Status.VALID
    with runtime.db.transaction() as session:
        assert reoffers.reoffers_for(session, a) == []
    assert _run_processor(runtime, crash=False).returncode == 0
    assert status_of(client, credential.raw) == "revoked"
    with runtime.db.transaction() as session:
        assert [r.state for r in reoffers.reoffers_for(session, a)] == ["pending"]


_PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def _licensed(
    runtime: Runtime, client: TestClient, copies: int
) -> tuple[str, Wallet, list[StoredCredential]]:
    """A married person whose wallet holds ``copies`` of the license."""
    with runtime.db.transaction() as session:
        a, _b, _m = married_couple(session, runtime.sealer)
    mine = Wallet()
    return a.id, mine, receive(runtime, client, mine, a.id, copies=copies)


def _rename(runtime: Runtime, person_id: str) -> None:
    with runtime.db.transaction() as session:
        registry.update_person_name(
            session, runtime.sealer, person_id, name_zh="王小磊", name_latin="Wang Xiaolei"
        )


def _renamed_with_copies(
    runtime: Runtime, client: TestClient, copies: int
) -> tuple[str, Wallet, list[StoredCredential]]:
    """:func:`_licensed`, then a new name and the life-event processor."""
    a, mine, held = _licensed(runtime, client, copies)
    _rename(runtime, a)
    process(runtime)
    return a, mine, held


def _credentials_of(person_id: str) -> Any:
    return select(IssuedCredential).where(IssuedCredential.person_id == person_id)
