"""``elicense demo`` end to end on a fresh SQLite and a fresh PostgreSQL database.

The in-person identity route is used here (``--no-faces``) so that the test is quick and
deterministic; the live-face route is exercised by hand and in docs/wallet.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from elicense.wallet.store import open_wallet

pytestmark = pytest.mark.slow
POSTGRES_URL = os.environ.get(
    "ELICENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _run_demo(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    code = "from elicense.demo import demo; import typer; typer.run(demo)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENSE_")}
    return subprocess.run(
        [sys.executable, "-c", code, "--data-dir", str(data_dir), "--no-faces", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str], data_dir: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "in-person check (no face videos found)" in out or "in-person check" in out
    assert out.count("INVALID (revoked)") == 2
    assert "demo complete: every step succeeded" in out
    wallets = sorted((data_dir / "wallets").glob("*.enc"))
    assert len(wallets) == 2
    for path in wallets:
        [license_] = open_wallet(path, "demo wallet passphrase").list()
        assert license_.configuration_id == "marriage_license"


def test_demo_on_sqlite(tmp_path: Path) -> None:
    _check(_run_demo(tmp_path / "data"), tmp_path / "data")


@pytest.mark.postgres
def test_demo_on_postgres(tmp_path: Path, fresh_db: object) -> None:
    # fresh_db is parametrized over both backends; only its PostgreSQL instance is used
    url = fresh_db.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    if not url.startswith("postgresql"):
        pytest.skip("covered by test_demo_on_sqlite")
    _check(_run_demo(tmp_path / "data", "--database-url", url), tmp_path / "data")
