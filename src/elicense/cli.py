"""The ``elicense`` command.

Sub-commands are defined next to the part they drive (``registry/cli.py``,
``crypto/cli.py``, ...) and mounted here. Every command turns an
:class:`~elicense.errors.ELicenseError` into one clear line and exit code 1 (2 for bad
configuration); none prints a stack trace for bad input or an unreachable database.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from elicense import logs
from elicense.config import ACCESS_LOG_ENV
from elicense.console import clear_errors
from elicense.crypto.cli import keys_app
from elicense.demo import demo
from elicense.formats.cli import verify
from elicense.issuance.cli import events_app
from elicense.proofing.cli import proofing_app
from elicense.registry.cli import clerk_app, registry_app
from elicense.verification.cli import rp_app
from elicense.wallet.cli import wallet_app
from elicense.wallet.present_cli import present

app = typer.Typer(
    name="elicense",
    help="eLicense: issue electronic certificates and licenses; verify them anywhere.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(registry_app, name="registry")
app.add_typer(clerk_app, name="clerk")
app.add_typer(keys_app, name="keys")
app.add_typer(proofing_app, name="proofing")
app.add_typer(events_app, name="events")
app.add_typer(wallet_app, name="wallet")
app.add_typer(rp_app, name="rp")
wallet_app.command("present")(clear_errors(present))
app.command("verify")(verify)
app.command("demo")(demo)


@app.command()
@clear_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    demo: Annotated[bool, typer.Option(help="Seed a demo province first.")] = False,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            envvar=ACCESS_LOG_ENV,
            help="One log line per request (ELICENSE_ACCESS_LOG=false: none; each line "
            "costs the server a few per cent of a verification's CPU).",
        ),
    ] = True,
) -> None:
    """Run the HTTP service (migrates the database first)."""
    import uvicorn

    from elicense.runtime import open_runtime

    # Unless told otherwise, the issuer identifier and status list URIs name the address
    # we actually listen on (workers read the same environment).
    os.environ.setdefault("ELICENSE_PUBLIC_BASE_URL", f"http://{host}:{port}")
    os.environ[ACCESS_LOG_ENV] = "true" if access_log else "false"  # for the workers
    runtime = open_runtime()
    logs.configure(runtime.settings.log_level, access_log=runtime.settings.access_log)
    if demo:
        _seed_demo_and_print(runtime)
    runtime.db.dispose()
    typer.echo(f"eLicense listening on http://{host}:{port} (API docs: /docs)")
    uvicorn.run(
        "elicense.web.asgi:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=access_log,
    )


def _seed_demo_and_print(runtime: object) -> None:
    from elicense.registry.demo import print_demo_seed, seed_demo
    from elicense.runtime import Runtime

    assert isinstance(runtime, Runtime)
    with runtime.db.transaction() as session:
        seed = seed_demo(session, runtime.sealer)
    print_demo_seed(seed)


@db_app.command("upgrade")
@clear_errors
def db_upgrade() -> None:
    """Apply every pending schema migration (safe to run repeatedly)."""
    from elicense.runtime import open_runtime

    runtime = open_runtime()
    typer.echo(f"database at {runtime.db.safe_url} is up to date")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
