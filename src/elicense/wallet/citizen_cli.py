"""``elicense wallet refresh`` and ``elicense wallet history`` (mounted by ``wallet/cli.py``).

``refresh`` receives the updated credentials the issuer re-offers after a registry change
(a new name), drops the ones they replace and prints what changed; ``history`` prints
who verified which claims, when, with what outcome. Both prove possession of the stored
credentials' keys (``holder-auth+jwt``); see :mod:`elicense.wallet.citizen`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Annotated

import typer
from rich.cells import cell_len

from elicense.console import clear_errors
from elicense.wallet import cli
from elicense.wallet.citizen import Citizen, HistoryEntry, Problems, Refreshed
from elicense.wallet.http import new_client
from elicense.wallet.store import StoredCredential, WalletFile

HISTORY_COLUMNS = ("when (UTC)", "verifier", "sector", "purpose", "outcome", "claims")
NOTHING = "—"


@cli.wallet_app.command()
@clear_errors
@cli._os_errors
def refresh(wallet: cli.WalletPath = None) -> None:
    """Receive updated credentials the issuer re-offers (e.g. after a change of name)."""
    path = cli._path(wallet)
    handle = WalletFile.open(path, cli._passphrase(path))
    with new_client() as client, handle.transaction() as contents:
        report = Citizen(client).refresh(contents)  # saved even when some credential failed
    for item in report.refreshed:
        for line in refreshed_lines(item):
            typer.echo(line)
    if not report.refreshed:
        typer.echo("nothing to refresh")
    _problems(report)


@cli.wallet_app.command()
@clear_errors
@cli._os_errors
def history(
    wallet: cli.WalletPath = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest entries to show.")] = 100,
) -> None:
    """Show who verified your credentials: verifier, sector, purpose, claim names, outcome."""
    path = cli._path(wallet)
    contents = WalletFile.open(path, cli._passphrase(path)).load()
    with new_client() as client:
        report = Citizen(client).history(contents, limit=limit)
    if report.entries:
        for line in history_table(report.entries[:limit]):
            typer.echo(line)
    else:
        typer.echo("no verifications recorded")
    _problems(report)


def refreshed_lines(item: Refreshed) -> list[str]:
    """``refreshed <title>: old ids -> new ids`` and one line per changed claim."""
    old_ids = ", ".join(c.id for c in item.old) or NOTHING
    new_ids = ", ".join(c.id for c in item.new)
    title = cli._title(item.new[0]) if item.new else item.configuration_id
    lines = [f"refreshed {title}: {old_ids} -> {new_ids}"]
    if item.old and item.new:
        lines.extend(f"  {change}" for change in changes(item.old[0], item.new[0]))
    return lines


def changes(old: StoredCredential, new: StoredCredential) -> Iterator[str]:
    """``label: old value -> new value`` for every claim that differs."""
    before, after = dict(cli.flatten(old.claims)), dict(cli.flatten(new.claims))
    for path in dict.fromkeys([*before, *after]):
        if before.get(path) != after.get(path):
            label = cli._labels(new, path)
            yield f"{label}: {before.get(path, NOTHING)} -> {after.get(path, NOTHING)}"


def history_table(entries: Sequence[HistoryEntry]) -> list[str]:
    """A plain-text table (columns padded by display width, so CJK names line up)."""
    rows = [HISTORY_COLUMNS] + [
        (
            _when(e.at),
            e.rp_name,
            e.sector,
            e.purpose,
            e.outcome,
            ", ".join(e.claims) or NOTHING,
        )
        for e in entries
    ]
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(HISTORY_COLUMNS) - 1)]
    return [
        "  ".join([*(_pad(c, w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_len(text))


def _when(at: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _problems(report: Problems) -> None:
    """Skipped credentials as notes; failures on stderr, then exit 1 (after saving)."""
    for problem in report.skipped:
        typer.echo(f"skipped {problem.credential.id}: {problem.code}")
    for problem in report.failed:
        typer.echo(f"error [{problem.code}]: {problem.credential.id}: {problem.message}", err=True)
    if report.failed:
        raise typer.Exit(1)
