"""Issue 6 "Done when", from the command line, against a real server subprocess.

A married couple's licenses get into wallets the way ``elicense demo`` does it (seeded
province, registrar, in-person identity check, OpenID4VCI). Then only commands:
``elicense rp register|request|result`` for the relying parties and
``elicense wallet present --yes`` for the citizen.

The "other region cannot obtain the digital ID" step is not here: the issuer cannot yet
issue a ``resident_id`` end to end (its claims come out of the registry record nested one
level too deep: ``claim_source_missing``), and the region rule is decided per credential
(its ``issuing_region``), so it bites at presentation, not at request creation. It is
covered with issued-in-test credentials in ``test_policy.py``
(``test_resident_id_asked_by_another_region_is_refused``: wallet and verifier both refuse).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from elicense import demo

pytestmark = pytest.mark.slow
ADMIN_TOKEN = "journey-admin-token"
STATUS_MAX_AGE = 2  # the verifier trusts a fetched status list this long (default 300 s)
BANK_USCC = "91350100M000100Y43"
HANGZHOU_HOTEL_USCC = "91330100799655058B"
MORTGAGE_CLAIMS = {"marital_status", "holder", "spouse"}


class Cli:
    """Runs ``elicense ...`` in a subprocess with the journey's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.transcript: list[str] = []

    def __call__(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from elicense.cli import main; main()", *args]
        done = subprocess.run(
            command,
            env=self.env | extra_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.transcript.append(f"$ elicense {' '.join(args)}\n{done.stdout}{done.stderr}")
        return done

    def ok(self, *args: str, **extra_env: str) -> str:
        done = self(*args, **extra_env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def fields(output: str) -> dict[str, str]:
    """``key: value`` lines of ``rp register`` / ``rp request``."""
    pairs = (line.partition(": ") for line in output.splitlines() if ": " in line)
    return {k.strip(): v.split("  ")[0].strip() for k, _, v in pairs}


@contextlib.contextmanager
def journey_server(data_dir: Path, database_url: str | None) -> Iterator[tuple[str, Any]]:
    port = demo.free_port()
    base_url = f"http://127.0.0.1:{port}"
    seed = demo.prepare(data_dir, database_url, base_url)
    env = demo.server_environment(data_dir, database_url, base_url)
    env["ELICENSE_VERIFICATION_ADMIN_TOKEN"] = ADMIN_TOKEN
    env["ELICENSE_VERIFICATION_STATUS_MAX_AGE"] = str(STATUS_MAX_AGE)
    with demo.running_server(env, port, data_dir / "server.log") as url:
        yield url, seed


def married_wallets(url: str, data_dir: Path, seed: Any) -> demo.Journey:
    """Both spouses hold a marriage license (as ``elicense demo`` gets them there)."""
    client = httpx.Client(timeout=60.0)
    journey = demo.Journey(client, url, data_dir, seed, None)
    demo.login(journey)
    demo.book_and_confirm(journey)
    demo.register_marriage(journey)
    for spouse in demo.COUPLE:
        demo.in_person_identity(journey, spouse)
    demo.make_offers(journey)
    demo.receive_licenses(journey)
    return journey


def run_journey(tmp_path: Path, database_url: str | None) -> Cli:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with journey_server(data_dir, database_url) as (url, seed):
        journey = married_wallets(url, data_dir, seed)
        cli = Cli(
            {k: v for k, v in os.environ.items() if not k.startswith("ELICENSE_")}
            | {
                "ELICENSE_SERVER_URL": url,
                "ELICENSE_DATA_DIR": str(data_dir),  # the wallet finds the RP CA there
                "ELICENSE_WALLET_PASSPHRASE": demo.WALLET_PASSPHRASE,
            }
        )
        wallet = str(demo.wallet_path(journey, demo.COUPLE[0]))
        bank = register(cli, "Bank of Hangzhou", BANK_USCC, "bank", "330100", "bank.example.cn")
        mortgage_verified(cli, bank, wallet)
        demo.divorce(journey)
        demo.wait_for_revocation(journey)
        time.sleep(STATUS_MAX_AGE + 0.5)  # the verifier's cached status list goes stale
        mortgage_revoked(cli, bank, wallet)
        hotel_refused_marriage_license(cli)
        journey.client.close()
    return cli


def register(cli: Cli, name: str, uscc: str, sector: str, region: str, host: str) -> dict[str, str]:
    out = cli.ok(
        "rp", "register", "--name", name, "--uscc", uscc, "--sector", sector,
        "--region", region, "--client-host", host,
        ELICENSE_VERIFICATION_ADMIN_TOKEN=ADMIN_TOKEN,
    )  # fmt: skip
    found = fields(out)
    assert found["rp_id"].startswith("rp_")
    return {"ELICENSE_RP_ID": found["rp_id"], "ELICENSE_RP_SECRET": found["client_secret"]}


def new_request(cli: Cli, rp: dict[str, str], preset: str) -> dict[str, str]:
    found = fields(cli.ok("rp", "request", "--preset", preset, **rp))
    assert found["deep_link"].startswith("openid4vp://?client_id=")
    assert found["request_uri"].endswith(found["request_id"])
    return found


def mortgage_verified(cli: Cli, bank: dict[str, str], wallet: str) -> None:
    created = new_request(cli, bank, "mortgage")
    shown = cli.ok("wallet", "present", created["deep_link"], "--yes", "--wallet", wallet)
    assert "Bank of Hangzhou" in shown
    assert shown.strip().endswith("presented")
    out = cli.ok("rp", "result", created["request_id"], "--wait", "10", **bank)
    result = json.loads(out)
    assert result["outcome"] == "verified"
    [credential] = result["credentials"]
    assert credential["credential_type"] == "marriage_license"
    assert set(credential["claims"]) == MORTGAGE_CLAIMS  # only the requested claims
    assert set(credential["claims"]["holder"]) == {"name", "id_number"}
    assert set(credential["claims"]["spouse"]) == {"name", "id_number"}
    assert credential["claims"]["marital_status"] == "married"
    checks = {c["name"] for c in result["checks"]}
    assert {"issuer_signature", "status", "holder_binding", "rp_permission"} <= checks
    assert all(c["ok"] for c in result["checks"])


def mortgage_revoked(cli: Cli, bank: dict[str, str], wallet: str) -> None:
    created = new_request(cli, bank, "mortgage")
    presented = cli("wallet", "present", created["deep_link"], "--yes", "--wallet", wallet)
    assert presented.returncode == 1
    assert "credential_revoked" in presented.stderr
    done = cli("rp", "result", created["request_id"], "--wait", "10", **bank)
    assert done.returncode == 1
    assert json.loads(done.stdout)["outcome"] == "rejected"
    assert "error [credential_revoked]" in done.stderr
    assert "claims" not in done.stdout


def hotel_refused_marriage_license(cli: Cli) -> None:
    refused = cli(
        "rp", "register", "--name", "West Lake Hotel", "--uscc", HANGZHOU_HOTEL_USCC,
        "--sector", "hotel", "--region", "330100", "--client-host", "hotel.example.cn",
        "--grant", "marriage_license:mortgage:marital_status,spouse.name",
        ELICENSE_VERIFICATION_ADMIN_TOKEN=ADMIN_TOKEN,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "error [claims_not_permitted]" in refused.stderr
    hotel = register(
        cli, "West Lake Hotel", HANGZHOU_HOTEL_USCC, "hotel", "330100", "hotel.example.cn"
    )
    asked = cli("rp", "request", "--preset", "mortgage", **hotel)
    assert asked.returncode == 1
    assert "error [beyond_registration]" in asked.stderr
    assert "Traceback" not in asked.stderr


def test_journey_on_sqlite(tmp_path: Path) -> None:
    cli = run_journey(tmp_path, None)
    print("\n".join(cli.transcript))


@pytest.mark.postgres
def test_journey_on_postgres(tmp_path: Path, fresh_db: object) -> None:
    url = fresh_db.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    if not url.startswith("postgresql"):
        pytest.skip("covered by test_journey_on_sqlite")
    run_journey(tmp_path, url)
