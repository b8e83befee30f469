"""Issue 6 "Done when", from the command line, against a real server subprocess.

A married couple's licenses get into wallets the way ``elicense demo`` does it (seeded
province, registrar, in-person identity check, OpenID4VCI). Then only commands:
``elicense rp register|request|result`` for the relying parties and
``elicense wallet present --yes`` for the citizen.

The citizen's wallet also receives a ``resident_id`` (a second in-person identity check,
then an offer for ``resident_id``). A hotel of the issuing region (Hangzhou, 330100; the
holder's household region is 330105) gets name, ID number and photo; a hotel of another
region (Shenzhen, 440300) is refused by the wallet (``region_mismatch``, nothing sent) and,
when a rule-ignoring wallet posts the presentation anyway, by the verifier.
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
from elicense.config import load_settings
from elicense.verification import dcql
from elicense.wallet import openid4vp, presentations
from elicense.wallet.offer import resolve_offer
from elicense.wallet.openid4vci import Holder
from elicense.wallet.present_cli import request_uri_of
from elicense.wallet.store import WalletFile

pytestmark = pytest.mark.slow
ADMIN_TOKEN = "journey-admin-token"
STATUS_MAX_AGE = 2  # the verifier trusts a fetched status list this long (default 300 s)
BANK_USCC = "91350100M000100Y43"
HANGZHOU_HOTEL_USCC = "91330100799655058B"
SHENZHEN_HOTEL_USCC = "9144030071526726XG"
HOTEL_DISCLOSED = {"name", "id_number", "photo"}  # selectively disclosable, requested
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
        vct, region = receive_resident_id(journey, demo.COUPLE[0])
        query = hotel_query(vct, tmp_path)
        bank = register(cli, "Bank of Hangzhou", BANK_USCC, "bank", "330100", "bank.example.cn")
        mortgage_verified(cli, bank, wallet)
        hotel = hotel_refused_marriage_license(cli)
        hotel_of_the_region_checks_in(cli, hotel, wallet, query, region)
        far_hotel = register(
            cli, "Shenzhen Bay Hotel", SHENZHEN_HOTEL_USCC, "hotel", "440300", "hotel.example.com"
        )
        hotel_of_another_region_refused_by_wallet(cli, far_hotel, wallet, query)
        rule_ignoring_wallet_refused_by_verifier(cli, far_hotel, query, Path(wallet), data_dir)
        demo.divorce(journey)
        demo.wait_for_revocation(journey)
        time.sleep(STATUS_MAX_AGE + 0.5)  # the verifier's cached status list goes stale
        mortgage_revoked(cli, bank, wallet)
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


def hotel_refused_marriage_license(cli: Cli) -> dict[str, str]:
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
    return hotel


def receive_resident_id(journey: demo.Journey, citizen: int) -> tuple[str, str]:
    """A new identity check (the first was used by the license offer), an offer for
    ``resident_id``, redeemed into the same wallet file; the credential's vct and region."""
    demo.in_person_identity(journey, citizen)
    body = {
        "verified_identity_id": journey.identities[citizen],
        "credential_configuration_ids": ["resident_id"],
        "tx_code": True,
    }
    offer = demo.call(journey.client, "POST", journey.url("/issuance/offers"), json=body)
    handle = WalletFile.open(demo.wallet_path(journey, citizen), demo.WALLET_PASSPHRASE)
    with handle.transaction() as wallet:
        [stored] = Holder(journey.client).receive(
            resolve_offer(offer["deep_link"], journey.client), wallet, tx_code=offer["tx_code"]
        )
    assert stored.configuration_id == "resident_id"
    assert stored.claims["id_number"] == journey.person(citizen).id_number
    region = stored.claims["issuing_region"]
    assert isinstance(region, str)
    assert region.startswith("3301")  # Hangzhou
    return stored.vct, region


def hotel_query(vct: str, directory: Path) -> Path:
    """The hotel check-in claims, photo only if the ID has one (``claim_sets``): the seeded
    citizens have no photo on record, and the ``hotel_check_in`` preset requires it."""
    claims = [
        {"id": name, "path": [name]} for name in ("name", "id_number", "photo", "issuing_region")
    ]
    query = {
        "credentials": [
            {
                "id": "identity",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [vct]},
                "claims": claims,
                "claim_sets": [
                    ["name", "id_number", "photo", "issuing_region"],
                    ["name", "id_number", "issuing_region"],
                ],
            }
        ]
    }
    path = directory / "hotel_check_in.dcql.json"
    path.write_text(json.dumps(query))
    return path


def new_hotel_request(cli: Cli, hotel: dict[str, str], query: Path) -> dict[str, str]:
    args = ("rp", "request", "--dcql", str(query), "--purpose", "hotel_check_in")
    found = fields(cli.ok(*args, **hotel))
    assert found["deep_link"].startswith("openid4vp://?client_id=")
    return found


def hotel_of_the_region_checks_in(
    cli: Cli, hotel: dict[str, str], wallet: str, query: Path, region: str
) -> None:
    created = new_hotel_request(cli, hotel, query)
    shown = cli.ok("wallet", "present", created["deep_link"], "--yes", "--wallet", wallet)
    assert "West Lake Hotel" in shown
    assert shown.strip().endswith("presented")
    result = json.loads(cli.ok("rp", "result", created["request_id"], "--wait", "10", **hotel))
    assert result["outcome"] == "verified"
    [credential] = result["credentials"]
    assert credential["credential_type"] == "resident_id"
    claims = credential["claims"]
    # issuing_region is not selectively disclosable: always there, and what the rule reads
    assert claims.pop("issuing_region") == region
    assert {"name", "id_number"} <= set(claims) <= HOTEL_DISCLOSED
    assert not {"sex", "birth_date", "nationality", "name_latin"} & set(claims)
    checks = {c["name"]: c["ok"] for c in result["checks"]}
    assert checks["region"] is True
    assert all(checks.values())


def hotel_of_another_region_refused_by_wallet(
    cli: Cli, far_hotel: dict[str, str], wallet: str, query: Path
) -> None:
    created = new_hotel_request(cli, far_hotel, query)
    refused = cli("wallet", "present", created["deep_link"], "--yes", "--wallet", wallet)
    assert refused.returncode == 1
    assert "region_mismatch" in refused.stderr
    assert "presented" not in refused.stdout
    assert "Traceback" not in refused.stderr
    pending = cli("rp", "result", created["request_id"], "--wait", "1", **far_hotel)
    assert pending.returncode == 1  # nothing was sent: no result, verified or otherwise
    assert "result_pending" in pending.stderr
    assert "verified" not in pending.stdout


def rule_ignoring_wallet_refused_by_verifier(
    cli: Cli, far_hotel: dict[str, str], query: Path, wallet_file: Path, data_dir: Path
) -> None:
    """A wallet that skips the region rule builds and posts the presentation itself; the
    verifier refuses it (``region_mismatch``) and passes no claims on."""
    created = new_hotel_request(cli, far_hotel, query)
    wallet = WalletFile.open(wallet_file, demo.WALLET_PASSPHRASE).load()
    [held] = [c for c in wallet.list() if c.configuration_id == "resident_id"]
    keys = load_settings({"ELICENSE_DATA_DIR": str(data_dir)}).keys_dir
    anchors = openid4vp.load_anchor((keys / "rp_ca" / "rp_ca.cert.pem").read_text())
    with httpx.Client(timeout=30.0) as client:
        request = openid4vp.fetch_request(
            request_uri_of(created["deep_link"]), anchors=[anchors], client=client
        )
        [asked] = request.request.query.credentials
        vp = presentations.build_presentation(
            wallet,
            held.id,
            dcql.disclosure_paths(asked, held.claims),
            nonce=request.request.nonce,
            audience=request.request.client_id,
        )
        form = {"vp_token": json.dumps({asked.id: [vp]}), "state": request.request.state or ""}
        response = openid4vp.post_response(request, form, client=client)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "region_mismatch"
    done = cli("rp", "result", created["request_id"], "--wait", "10", **far_hotel)
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert found["outcome"] == "rejected"
    assert found["error"]["code"] == "region_mismatch"
    assert "credentials" not in found
    assert held.claims["id_number"] not in done.stdout


def test_journey_on_sqlite(tmp_path: Path) -> None:
    cli = run_journey(tmp_path, None)
    print("\n".join(cli.transcript))


@pytest.mark.postgres
def test_journey_on_postgres(tmp_path: Path, fresh_db: object) -> None:
    url = fresh_db.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    if not url.startswith("postgresql"):
        pytest.skip("covered by test_journey_on_sqlite")
    run_journey(tmp_path, url)
