"""``elicense registry …`` and ``elicense clerk …`` commands.

Both open the database named by the settings (migrating it first) and the sealing keys;
a domain error prints one line and exits 1 — never a stack trace.
"""

from __future__ import annotations

import csv
import secrets
import string
from pathlib import Path
from typing import Annotated, TextIO

import typer

from elicense import console
from elicense.console import clear_errors, runtime_scope
from elicense.registry import service
from elicense.registry.importer import ImportKind, ImportReport, import_rows, read_csv
from elicense.registry.types import Role
from elicense.runtime import Runtime

registry_app = typer.Typer(help="Registry of record: bulk import.", no_args_is_help=True)
clerk_app = typer.Typer(help="Clerk accounts.", no_args_is_help=True)


@registry_app.command("import")
@clear_errors
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file (UTF-8).")],
    kind: Annotated[ImportKind, typer.Option(help="What the rows are.")] = ImportKind.PERSONS,
    errors: Annotated[
        Path | None, typer.Option(help="Where to write the per-row error report.")
    ] = None,
) -> None:
    """Import persons or marriages from CSV; safe to re-run (see docs/registry.md)."""
    with runtime_scope() as runtime, file.open(newline="", encoding="utf-8-sig") as source:
        report = _import_with_progress(runtime, source, kind)
    typer.echo(
        f"{report.total} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.failed} failed"
    )
    if not report.ok:
        path = errors or file.with_name(file.name + ".errors.csv")
        _write_errors(report, path)
        typer.echo(f"error report: {path}", err=True)
        raise typer.Exit(1)


def _import_with_progress(runtime: Runtime, source: TextIO, kind: ImportKind) -> ImportReport:
    rows = read_csv(source, kind)
    with console.progress() as bar:
        task = bar.add_task(f"importing {kind.value}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return import_rows(
            rows, kind, sealer=runtime.sealer, unit=runtime.db.transaction, progress=progress
        )


def _write_errors(report: ImportReport, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "code", "message"])
        for error in report.errors:
            writer.writerow([error.line, error.code, error.message])


@clerk_app.command("add")
@clear_errors
def add_clerk(
    username: Annotated[str, typer.Argument(help="Login name (lower-case).")],
    role: Annotated[Role, typer.Option(help="registrar, auditor or admin.")],
    password: Annotated[
        str | None, typer.Option(help="Password (else prompted, or generated with --generate).")
    ] = None,
    generate: Annotated[bool, typer.Option(help="Generate a password and print it.")] = False,
) -> None:
    """Create a clerk account."""
    if password is None and generate:
        password = generate_password()
    elif password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with runtime_scope() as runtime, runtime.db.transaction() as session:
        clerk = service.create_clerk(session, username=username, role=role, password=password)
    typer.echo(f"clerk {clerk.username} ({clerk.role}) created")
    if generate:
        typer.echo(f"password: {password}")


def generate_password(length: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
