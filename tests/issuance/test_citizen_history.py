"""The citizen's verification history: a bank's mortgage check through the real verifier
shows up (claim names only, never values) for every key of that person, in
``elicense wallet history`` too; another person's key sees none of it (both backends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from citizen_helpers import (
    HISTORY,
    as_holder,
    bank,
    call,
    holder_jwt,
    mortgage_check,
    offer_link,
    receive,
    wallet_cli_over,
)
from issuance_helpers import TestClient, married_couple
from typer.testing import CliRunner

from elicense.runtime import Runtime
from elicense.wallet import cli as wallet_cli
from elicense.wallet.citizen import Citizen
from elicense.wallet.store import Wallet, WalletFile

MORTGAGE_NAMES = {
    "marriage_license.marital_status",
    "marriage_license.holder.name",
    "marriage_license.holder.id_number",
    "marriage_license.spouse.name",
    "marriage_license.spouse.id_number",
}


def test_history_lists_names_not_values_for_every_key_of_the_person(
    runtime: Runtime, client: TestClient
) -> None:
    with runtime.db.transaction() as session:
        a, b, _m = married_couple(session, runtime.sealer)
    mine, spouse = Wallet(), Wallet()
    license_copies = receive(runtime, client, mine, a.id, copies=2)
    [theirs] = receive(runtime, client, spouse, b.id)
    rp = bank(runtime, client)
    result = mortgage_check(
        client,
        rp,
        Wallet(keys=dict(mine.keys), credentials={license_copies[0].id: license_copies[0]}),
    )
    assert result["outcome"] == "verified"

    other_copy = mine.signer_for(license_copies[1])  # not the key that presented
    body = as_holder(client, other_copy, HISTORY)
    assert sorted(body["holder_keys"]) == sorted(c.holder_kid for c in license_copies)
    [entry] = body["entries"]
    assert entry["rp"] == {"id": rp.rp.id, "name": "Bank of Hangzhou", "sector": "bank"}
    assert (entry["purpose"], entry["outcome"], entry["error_code"]) == (
        "mortgage",
        "verified",
        None,
    )
    assert entry["credential_types"] == ["marriage_license"]
    assert set(entry["claims"]) == MORTGAGE_NAMES
    assert entry["at"].endswith("Z")
    text = json.dumps(body, ensure_ascii=False)
    for value in (a.name_zh, a.id_number, b.name_zh, b.id_number, "married"):
        assert value not in text

    spouse_view = as_holder(client, spouse.signer_for(theirs), HISTORY)
    assert spouse_view == {"holder_keys": [theirs.holder_kid], "entries": []}

    report = Citizen(client).history(mine)
    assert [e.id for e in report.entries] == [entry["id"]]
    assert (report.skipped, report.failed) == ([], [])


def test_limit_is_bounded(runtime: Runtime, client: TestClient) -> None:
    with runtime.db.transaction() as session:
        a, _b, _m = married_couple(session, runtime.sealer)
    mine = Wallet()
    [held] = receive(runtime, client, mine, a.id)
    signer = mine.signer_for(held)
    rp = bank(runtime, client)
    for _ in range(2):
        assert mortgage_check(client, rp, mine)["outcome"] == "verified"
    assert len(as_holder(client, signer, HISTORY)["entries"]) == 2
    [newest] = as_holder(client, signer, HISTORY, limit=1)["entries"]
    assert newest == as_holder(client, signer, HISTORY)["entries"][0]
    too_many = call(client, HISTORY, holder_jwt(client, signer, HISTORY), limit=501)
    assert too_many.status_code == 422


def test_wallet_history_command(
    runtime: Runtime, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runtime.db.transaction() as session:
        a, _b, _m = married_couple(session, runtime.sealer)
    path = tmp_path / "a.wallet"
    with wallet_cli_over(client, monkeypatch):
        runner = CliRunner()
        link = offer_link(runtime, client, a.id, ["marriage_license"])
        received = runner.invoke(wallet_cli.wallet_app, ["receive", link, "--wallet", str(path)])
        assert received.exit_code == 0, received.stderr
        empty = runner.invoke(wallet_cli.wallet_app, ["history", "--wallet", str(path)])
        assert (empty.exit_code, empty.stdout.strip()) == (0, "no verifications recorded")

        contents = WalletFile.open(path, "citizen wallet pass").load()
        mortgage_check(client, bank(runtime, client), contents)
        shown = runner.invoke(wallet_cli.wallet_app, ["history", "--wallet", str(path)])
    assert shown.exit_code == 0, shown.stderr
    header, row = shown.stdout.splitlines()
    assert header.split() == ["when", "(UTC)", "verifier", "sector", "purpose", "outcome", "claims"]
    assert "Bank of Hangzhou  bank    mortgage  verified  marriage_license." in row
    assert header.index("claims") == row.index("marriage_license.")
    assert a.name_zh not in shown.stdout
