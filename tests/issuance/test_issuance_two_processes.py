"""No state in a worker's memory: offer → token (process A) → nonce (B) → credential (A)
across two real uvicorn processes on one database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from issuance_helpers import BASE_URL, PRE_AUTH, Holder, identity_check, married_couple

from elicense.crypto.trust import single_issuer
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "two_process_app:app_factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(
        command, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


@pytest.fixture
def servers(
    fresh_db: Database, tmp_path: Path
) -> Iterator[tuple[httpx.Client, httpx.Client, Sealer]]:
    env = {
        **os.environ,
        "ELICENSE_DATABASE_URL": fresh_db.url,
        "ELICENSE_DATA_DIR": str(tmp_path),
        "ELICENSE_PUBLIC_BASE_URL": BASE_URL,
        "ELICENSE_KEY_PASSPHRASE": "two-process-test-passphrase",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    sealer = Sealer.from_environment(tmp_path / "keys")  # the servers load the same key
    ports = [_free_port(), _free_port()]
    processes = [_start(env, port) for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_ready(port, process)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
        yield clients[0], clients[1], sealer
        for client in clients:
            client.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
            if process.stderr is not None:
                process.stderr.close()


@pytest.mark.slow
def test_flow_across_two_server_processes(
    fresh_db: Database, servers: tuple[httpx.Client, httpx.Client, Sealer]
) -> None:
    a, b, sealer = servers
    with fresh_db.transaction() as session:
        spouse, _, _ = married_couple(session, sealer)
        vid = identity_check(session, sealer, spouse.id)
    offer = b.post(
        "/issuance/offers",
        json={"verified_identity_id": vid, "credential_configuration_ids": ["marriage_license"]},
    )
    assert offer.status_code == 201, offer.text
    holder = Holder(a)  # type: ignore[arg-type]
    token = holder.token(offer.json()["credential_offer"])  # process A
    holder.client = b  # type: ignore[assignment]
    nonce = holder.nonce()  # process B
    holder.client = a  # type: ignore[assignment]
    body = {
        "credential_configuration_id": "marriage_license",
        "proofs": {"jwt": [holder.proof(nonce)]},
    }
    response = holder.credential_response(token, body)  # process A
    assert response.status_code == 200, response.text
    credential = response.json()["credentials"][0]["credential"]
    trust = single_issuer(BASE_URL, b.get("/.well-known/jwks.json").json()["keys"])
    verified = verify_credential(credential, trust=trust, policy=CredentialPolicy())
    assert verified.vct == BASE_URL + "/vct/marriage_license"
    # Both processes publish the same keys (one key store on disk).
    assert a.get("/.well-known/jwks.json").json() == b.get("/.well-known/jwks.json").json()
    assert (
        PRE_AUTH in a.get("/.well-known/oauth-authorization-server").json()["grant_types_supported"]
    )
