"""``elicense events``: run the life-event processor (registry outbox → credential status).

Mounted by :mod:`elicense.cli` as ``app.add_typer(events_app, name="events")``.
"""

from __future__ import annotations

import json

import typer

events_app = typer.Typer(help="Life events: apply registry changes to issued credentials.")


@events_app.command("process")
def process_command() -> None:
    """Handle every pending registry event once (safe to run while servers run)."""
    from elicense.errors import ELicenseError
    from elicense.issuance.events import process_pending
    from elicense.runtime import open_runtime

    try:
        runtime = open_runtime()
    except ELicenseError as exc:
        typer.echo(json.dumps(exc.to_json(), ensure_ascii=False), err=True)
        raise typer.Exit(1) from None
    try:
        assert runtime.catalog is not None
        outcomes = process_pending(runtime.db, runtime.catalog)
    except ELicenseError as exc:
        typer.echo(json.dumps(exc.to_json(), ensure_ascii=False), err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.db.dispose()
    revoked = sum(len(o.revoked) for o in outcomes)
    typer.echo(json.dumps({"events": len(outcomes), "revoked": revoked}))
