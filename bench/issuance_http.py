"""Bench: the pre-authorized OpenID4VCI flow over HTTP on loopback vs hello-world.

For SQLite and PostgreSQL (a throwaway database on 127.0.0.1:5432, created and dropped
here), with 1 and 2 uvicorn workers, one server is started per configuration and
measured twice in the same run:

* baseline: ``GET /bench/hello`` — FastAPI's own hello world (``async def``, returns
  ``{"message": "Hello World"}``). The app has no such route, so this bench serves the
  real app through a bench-only factory (:func:`bench_app_factory`) that adds it: same
  process, same uvicorn settings as ``elicense serve``, same middleware stack as every
  issuance request. Sent by the asyncio load generator of ``bench/_http_load.py``
  (requests encoded before the clock starts, ``--clients`` keep-alive connections);
* flow: token (DPoP) + nonce + credential (DPoP + key proof) for a fresh offer, as
  :class:`elicense.wallet.openid4vci.Holder` does it (the real wallet code, verifying
  each credential it gets), from ``--clients`` threads over
  :class:`_http_load.SyncClient`: the wallet's HTTP protocol on one keep-alive socket
  per thread.

Both loads keep the server busy, so each is measured at the server's capacity. Until
the light clients, both went through ``httpx``, which spent 2.0–2.6 ms of CPU per flow
(more than the server): the server waited for the client part of the time, and a
waiting server spends more CPU per request (every request wakes it), more so, in
proportion, per hello than per flow.

Printed per configuration:

* hello req/s, credentials/s and the **wall ratio** (hello req/s / credentials/s): what
  one flow costs in hello requests end to end, the client's own work included;
* the **server ratio**: CPU seconds the server's processes (uvicorn workers, and the
  SQLite engine inside them) spend per flow / per hello request — the issuer's cost,
  independent of the client. For PostgreSQL the database server's CPU is shown apart
  (``db ms/flow``, all local ``postgres`` processes) and is not in the ratio;
* the client's CPU per flow, its crypto per flow (two P-256 keys, two DPoP proofs, one
  key proof, one credential verification), and the server's inherent crypto per flow
  (two DPoP and one key-proof verification incl. thumbprints, one ES256 signature),
  both measured in-process in the same run; ``crypto/hello`` is the latter in hello
  requests.

Offers (in-person check + ``POST /issuance/offers``) are made before timing. Before
timing, the bench waits until the server's processes are idle (each worker warms its
face-model pool at start) and hello rates are stable, then runs warm-up flows.
Target on SQLite, 1 worker: server ratio <= 5x. Loopback only; counts are bounded.

    .venv/bin/python bench/issuance_http.py [--flows 300] [--hello 4000] [--clients 4]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import create_engine, text

import _http_load
from elicense.demo import call, free_port, prepare, server_environment, wait_until_healthy
from elicense.wallet.offer import parse_offer_object
from elicense.wallet.openid4vci import (
    Holder,
    _DpopSession,
    fetch_authorization_server_metadata,
    fetch_issuer_metadata,
)
from elicense.wallet.store import HolderKey

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CONFIG = "marriage_license"
HELLO_PATH = "/bench/hello"
TICK = os.sysconf("SC_CLK_TCK")


def bench_app_factory() -> Any:
    """The real app (``elicense.web.asgi.app_factory``) plus FastAPI's hello world."""
    from elicense.web.asgi import app_factory

    app = app_factory()

    @app.get(HELLO_PATH, include_in_schema=False)
    async def hello() -> dict[str, str]:
        return {"message": "Hello World"}

    return app


# --- server and CPU accounting ------------------------------------------------------------


@contextlib.contextmanager
def bench_server(env: dict[str, str], port: int, log: Path, workers: int) -> Iterator[int]:
    """uvicorn as ``elicense serve`` runs it, with :func:`bench_app_factory`; yields its pid."""
    code = (
        "import uvicorn; from elicense import logs; from elicense.config import load_settings;"
        "s = load_settings(); logs.configure(s.log_level, access_log=s.access_log);"
        f"uvicorn.run('issuance_http:bench_app_factory', factory=True, host='127.0.0.1',"
        f" port={port}, workers={workers}, log_config=None)"
    )
    env = env | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, comm, cpu seconds) for every process we can read."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = Path(f"/proc/{entry}/stat").read_text()
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            found[int(entry)] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def cpu_seconds(root: int) -> tuple[float, float]:
    """CPU seconds of ``root``'s process tree, and of every local ``postgres`` process."""
    stats = _stats()
    tree, changed = {root}, True
    while changed:
        more = {pid for pid, (ppid, _, _) in stats.items() if ppid in tree} - tree
        tree |= more
        changed = bool(more)
    server = sum(stats[p][2] for p in tree if p in stats)
    database = sum(cpu for _, comm, cpu in stats.values() if comm.startswith("postgres"))
    return server, database


# --- load ------------------------------------------------------------------------------------


def make_offers(client: httpx.Client, base: str, seed: Any, count: int) -> list[Any]:
    registrar = seed.registrar
    body = {"username": registrar.username, "password": registrar.password}
    token = call(client, "POST", f"{base}/registry/auth/token", json=body)["access_token"]
    clerk = {"Authorization": f"Bearer {token}"}
    offers = []
    for i in range(count):
        check = f"{base}/proofing/in-person-checks"
        person = {"person_id": seed.married_couple[i % 2]}
        vid = call(client, "POST", check, json=person, headers=clerk)["id"]
        req = {"verified_identity_id": vid, "credential_configuration_ids": [CONFIG]}
        offer = call(client, "POST", f"{base}/issuance/offers", json=req)["credential_offer"]
        offers.append(parse_offer_object(offer))
    return offers


def timed(fn: Callable[[Any], None], items: list[Any], clients: int) -> float:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(fn, items))
    return time.perf_counter() - started


class Phase:
    """Wall time, server CPU, database CPU and client CPU of one timed load: ``run``
    makes ``n`` requests (or flows)."""

    def __init__(self, server_pid: int, run: Callable[[], object], n: int):
        server0, db0, client0 = *cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        run()
        self.wall = time.perf_counter() - started
        server1, db1 = cpu_seconds(server_pid)
        self.rate = n / self.wall
        self.server = (server1 - server0) / n
        self.database = (db1 - db0) / n
        self.client = (time.process_time() - client0) / n


def wait_until_warm(server_pid: int, hellos: Callable[[int], object]) -> None:
    """Until the server's processes are idle (face pools warmed) and hello rates settle."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        before = cpu_seconds(server_pid)[0]
        time.sleep(0.5)
        if cpu_seconds(server_pid)[0] - before < 0.05:
            break
    rates: list[float] = []
    for _ in range(8):
        started = time.perf_counter()
        hellos(200)
        rates.append(200 / (time.perf_counter() - started))
        if len(rates) >= 3 and max(rates[-3:]) / min(rates[-3:]) < 1.1:
            return


# --- in-process crypto ---------------------------------------------------------------------


def median_ms(fn: Callable[[], object], repeat: int = 30) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def crypto_costs(url: str, credential: str, trust: Any) -> tuple[float, float]:
    """(client crypto ms/flow, server inherent crypto ms/flow), measured in this process."""
    from elicense.formats import sd_jwt_vc
    from elicense.issuance.jwt_proofs import verify_dpop, verify_key_proof
    from elicense.wallet import dpop

    token_url, credential_url = f"{url}/issuance/token", f"{url}/issuance/credential"

    def client_side() -> None:
        session_key, holder_key = HolderKey.generate(), HolderKey.generate()
        dpop.dpop_proof(session_key.signer(), "POST", token_url)
        dpop.dpop_proof(session_key.signer(), "POST", credential_url, access_token="x" * 43)
        dpop.key_proof(holder_key.signer(), audience=url, nonce="n" * 43)
        sd_jwt_vc.verify_credential(credential, trust=trust)

    key = HolderKey.generate()
    signer = key.signer()
    proofs = [
        dpop.dpop_proof(signer, "POST", token_url),
        dpop.dpop_proof(signer, "POST", credential_url, access_token="x" * 43),
        dpop.key_proof(signer, audience=url, nonce="n" * 43),
    ]

    def server_side() -> None:
        now = int(time.time())
        verify_dpop(proofs[0], method="POST", url=token_url, now=now)
        verify_dpop(proofs[1], method="POST", url=credential_url, now=now, access_token="x" * 43)
        verify_key_proof(proofs[2], audience=url, now=now)
        signer.sign(b"x" * 1500)  # the credential's ES256 signature (an issuer key is P-256 too)

    return median_ms(client_side), median_ms(server_side)


# --- one configuration -----------------------------------------------------------------------


def run_config(backend: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="elicense-bench-") as tmp:
        data_dir = Path(tmp)
        db_url, db_name = None, None
        if backend == "postgresql":
            db_name = f"elicense_bench_{secrets.token_hex(4)}"
            with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db_name}"
        try:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            seed = prepare(data_dir, db_url, base)
            env = server_environment(data_dir, db_url, base)
            with (
                bench_server(env, port, data_dir / "server.log", workers) as pid,
                httpx.Client(timeout=60, limits=httpx.Limits(max_connections=32)) as client,
            ):
                return measure(client, base, pid, seed, workers, args)
        finally:
            if db_name:
                with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def measure(
    client: httpx.Client, url: str, pid: int, seed: Any, workers: int, args: argparse.Namespace
) -> dict[str, float]:
    offers = make_offers(client, url, seed, args.flows + 4 * workers)
    parts = urlsplit(url)
    light = _http_load.SyncClient(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        return measure_with(light, url, pid, offers, workers, args)
    finally:
        light.close()


def measure_with(
    client: _http_load.SyncClient,
    url: str,
    pid: int,
    offers: list[Any],
    workers: int,
    args: argparse.Namespace,
) -> dict[str, float]:
    """The timed part, every request from the light client (see the module docstring)."""
    holder = Holder(client)
    warm = 4 * workers
    metadata = fetch_issuer_metadata(client, url, holder.policy)
    server = fetch_authorization_server_metadata(client, url, holder.policy)
    trust = holder.issuer_trust(metadata, server)
    config = metadata.configuration(CONFIG)
    credentials: list[str] = []

    hello = _http_load.Request(
        f"GET {HELLO_PATH} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n\r\n".encode(), 200
    )

    def hellos(n: int) -> None:  # prebuilt, from the asyncio load generator
        _http_load.send(client.host, client.port, [hello] * n, args.clients)

    def flow(offer: Any) -> None:
        session = _DpopSession(HolderKey.generate())
        token = holder.request_token(server, session, offer, None)
        issued, _ = holder.request_credentials(metadata, session, token, CONFIG, config, 1, trust)
        assert len(issued) == 1
        credentials.append(issued[0].raw)

    wait_until_warm(pid, hellos)
    timed(flow, offers[:warm], args.clients)  # imports, key loading, connection pools
    hello_phase = Phase(pid, lambda: hellos(args.hello), args.hello)
    flows = Phase(pid, lambda: timed(flow, offers[warm:], args.clients), len(offers) - warm)
    client_crypto, server_crypto = crypto_costs(url, credentials[-1], trust)
    return {
        "hello_rps": hello_phase.rate,
        "flows_ps": flows.rate,
        "wall_ratio": hello_phase.rate / flows.rate,
        "server_ratio": flows.server / hello_phase.server,
        "hello_ms": hello_phase.server * 1e3,
        "flow_ms": flows.server * 1e3,
        "db_ms": flows.database * 1e3,
        "client_ms": flows.client * 1e3,
        "client_crypto_ms": client_crypto,
        "server_crypto_ms": server_crypto,
        "crypto_hellos": server_crypto / (hello_phase.server * 1e3),
    }


COLUMNS = [
    ("hello req/s", "hello_rps", "{:.0f}"),
    ("cred/s", "flows_ps", "{:.1f}"),
    ("wall ratio", "wall_ratio", "{:.1f}x"),
    ("srv ms/hello", "hello_ms", "{:.2f}"),
    ("srv ms/flow", "flow_ms", "{:.2f}"),
    ("server ratio", "server_ratio", "{:.1f}x"),
    ("db ms/flow", "db_ms", "{:.2f}"),
    ("client ms/flow", "client_ms", "{:.2f}"),
    ("client crypto", "client_crypto_ms", "{:.2f}"),
    ("srv crypto", "server_crypto_ms", "{:.2f}"),
    ("crypto/hello", "crypto_hellos", "{:.1f}x"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--flows", type=int, default=300, help="timed flows per configuration")
    parser.add_argument("--hello", type=int, default=4000, help="timed hello requests")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; {args.clients} clients; {args.flows} flows, "
        f"{args.hello} hello requests per configuration; times in ms"
    )
    print(f"{'backend':<11} {'workers':>7} " + " ".join(f"{h:>{len(h)}}" for h, _, _ in COLUMNS))
    for backend in args.backends.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            r = run_config(backend, workers, args)
            cells = " ".join(f"{fmt.format(r[key]):>{len(h)}}" for h, key, fmt in COLUMNS)
            target = "  (target: server ratio <= 5x)" if backend == "sqlite" else ""
            print(f"{backend:<11} {workers:>7} {cells}{target}", flush=True)


if __name__ == "__main__":
    main()
