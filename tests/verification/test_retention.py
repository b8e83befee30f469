"""Retention on a schedule: stored results (the disclosed values) are gone after retention,
whether the server's purge loop or ``elicense rp purge`` removes them; history stays."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner
from verification_support import BANK_USCC, MARRIAGE, MORTGAGE_GRANT, Env, create

from elicense import clock
from elicense.verification import retention
from elicense.verification.cli import rp_app
from elicense.verification.models import VerificationHistory, VerificationRequest
from elicense.wallet import openid4vp

RETENTION = 60


def answered(env: Env) -> str:
    """A verified request whose result the RP has not fetched; its id."""
    bank = env.register("Bank", BANK_USCC, "bank", "440300", "bank.example.com", [MORTGAGE_GRANT])
    created = create(env, bank)
    held = env.credential("marriage_license", MARRIAGE)
    openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    return str(created["id"])


def stored(env: Env, request_id: str) -> bytes | None:
    with env.db.transaction() as session:
        row = session.get(VerificationRequest, request_id)
        assert row is not None
        value: bytes | None = row.result_sealed
        return value


def history(env: Env, request_id: str) -> list[Any]:
    with env.db.transaction() as session:
        rows = session.query(VerificationHistory).filter_by(request_id=request_id).all()
        return [(r.outcome, list(r.claim_names)) for r in rows]


def test_purge_loop_drops_values_past_retention(env_factory: Callable[..., Env]) -> None:
    env = env_factory(retention=RETENTION)
    request_id = answered(env)
    loop = retention.PurgeLoop(env.db)
    loop.run_once()
    assert stored(env, request_id) is not None  # within retention: kept
    with clock.shifted(RETENTION + 1):
        loop.run_once()
    assert stored(env, request_id) is None
    [(outcome, claims)] = history(env, request_id)
    assert outcome == "verified"
    assert "marriage_license.spouse.name" in claims  # names only, no values


def test_purge_loop_runs_on_its_own(env_factory: Callable[..., Env]) -> None:
    env = env_factory(retention=RETENTION)
    request_id = answered(env)
    loop = retention.PurgeLoop(env.db, interval=0.05)
    with clock.shifted(RETENTION + 1):
        loop.start()
        try:
            deadline = time.monotonic() + 10
            while stored(env, request_id) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            loop.stop()
    assert stored(env, request_id) is None


def test_rp_purge_command(
    env_factory: Callable[..., Env], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_factory(retention=RETENTION)
    request_id = answered(env)
    url = env.db.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("ELICENSE_DATABASE_URL", url)
    monkeypatch.setenv("ELICENSE_DATA_DIR", str(tmp_path / "cron"))
    with clock.shifted(RETENTION + 1):
        done = CliRunner().invoke(rp_app, ["purge"])
    assert done.exit_code == 0, done.output
    assert "purged 1 result(s) past retention" in done.output
    assert stored(env, request_id) is None


@pytest.mark.parametrize("server", [True, False])
def test_lifespan_runs_the_loop_in_server_processes_only(
    env: Env, monkeypatch: pytest.MonkeyPatch, server: bool
) -> None:
    started: list[float] = []
    monkeypatch.setattr(retention.PurgeLoop, "start", lambda self: started.append(self.interval))
    monkeypatch.setattr(retention.PurgeLoop, "stop", lambda self: None)
    monkeypatch.setenv(retention.PURGE_INTERVAL_ENV, "30")
    runtime = dataclasses.replace(env.app.state.runtime, background_events=server)
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime))

    async def run() -> None:
        async with retention.lifespan(app):
            pass

    asyncio.run(run())
    assert started == ([30.0] if server else [])
