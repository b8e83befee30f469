"""Benchmark: OpenID4VP presentations verified per second, HTTP API vs pure library.

Run: ``.venv/bin/python bench/verification.py [--n 400]`` (about a minute).

In one run, on one machine, with the same marriage-license presentations (mortgage
preset: 5 disclosed claims, ES256 issuer signature and KB-JWT):

* **library** - :func:`elicense.verification.checks.verify_presentation` in this
  process, one thread (every check: trust list, signatures, validity, KB-JWT, status
  from an already verified list, DCQL, over-disclosure, RP permission, region);
* **api, W workers** - ``POST /verification/responses/{id}`` (``direct_post``) to
  ``uvicorn --workers W`` on loopback over SQLite, 4 W keep-alive connections from a
  light load generator (``bench/_http_load.py``: about 0.03 ms of CPU per request,
  printed as ``client ms``; ``httpx`` took 0.7 ms and could not keep one worker busy,
  so the rates it gave measured the client); each response
  loads its request (one read), verifies, and records the outcome (one write
  transaction: the single-use update and the history row). The
  status list is fetched over HTTP from the same server once per worker and ``ttl``.

* **http floor** - the same POSTs to an unknown request id (form parsing, one
  database look-up, a 404): what the web stack and the load generator cost alone.

With ``--postgres`` the api rows are run again over PostgreSQL (a throwaway database on
``--postgres-url``'s server, default the local one): the per-core ratio still counts the
uvicorn processes only; the CPU of every local ``postgres`` process over the same window
is printed apart (``db CPU s``), as the database server would run on its own machine.

Two ratios are printed. **Wall clock**: the API rate per worker over the library rate.
The load generator shares the machine's cores with the server, so that one is a lower
bound. **Per core** (the target, >= 0.40): presentations
verified per CPU-second *of the server processes* (uvicorn and its workers, user +
system time from ``/proc/<pid>/stat`` over the timed window) against the library's
presentations per CPU-second of this process (``time.process_time``), so the load
generator's CPU does not count against the server. No absolute time is a pass/fail
criterion.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import _http_load
from elicense import clock
from elicense.catalog import load_catalog
from elicense.config import load_settings
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import single_issuer
from elicense.formats import sd_jwt
from elicense.formats.sd_jwt_vc import StatusReference, issue_credential
from elicense.runtime import open_runtime
from elicense.status import service as status_service
from elicense.status.token_status_list import Status
from elicense.verification import checks, dcql, service
from elicense.verification.context import build_context
from elicense.verification.policy import Grant

MARRIAGE = {
    "certificate_number": "J440305-2024-000123",
    "registration_date": "2024-05-20",
    "registration_office": "Nanshan Civil Affairs Office",
    "marital_status": "married",
    "holder": {
        "name": "刘洋",
        "sex": "male",
        "birth_date": "1990-04-01",
        "nationality": "CHN",
        "id_number": "440305199004011234",
    },
    "spouse": {
        "name": "周婷",
        "sex": "female",
        "birth_date": "1992-08-09",
        "nationality": "CHN",
        "id_number": "440305199208092345",
    },
}
GRANT = Grant(
    "marriage_license",
    frozenset({"mortgage"}),
    frozenset(
        {"marital_status", "holder.name", "holder.id_number", "spouse.name", "spouse.id_number"}
    ),
)


# --- the server (imported by uvicorn workers) ----------------------------------------------


def app_factory() -> Any:
    """The status + verification routers over the bench's data directory, in the app
    class the platform serves (:class:`elicense.web.fastpath.App`, with the
    verification part's fast routes, as :func:`elicense.web.app.create_app` adds them)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from elicense.errors import ELicenseError
    from elicense.status.api import router as status_router
    from elicense.verification.api import FAST_ROUTES
    from elicense.verification.api import router as verification_router
    from elicense.web.fastpath import App

    runtime = open_runtime(upgrade=False)
    key = serialization.load_pem_private_key(
        (runtime.settings.data_dir / "issuer.key.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signer = LocalSigner(key)

    class Signers:
        def signer_for(self, _name: str) -> LocalSigner:
            return signer

    async def problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ELicenseError)
        return JSONResponse(exc.to_problem(), status_code=exc.status)

    app = App()
    app.state.runtime = runtime
    app.state.status_signers = Signers()
    app.add_exception_handler(ELicenseError, problem)
    app.include_router(status_router)
    app.include_router(verification_router)
    for route in FAST_ROUTES:
        app.fast_routes.add(route)
    return app


# --- set-up --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    def __init__(self, data_dir: Path, port: int, db_url: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            "ELICENSE_DATA_DIR": str(data_dir),
            "ELICENSE_PUBLIC_BASE_URL": self.base,
            "ELICENSE_LOG_LEVEL": "WARNING",
            # The default database, named, so that a second bench's URL is not inherited.
            "ELICENSE_DATABASE_URL": db_url or f"sqlite:///{data_dir / 'elicense.db'}",
        }
        os.environ.update(self.env)
        self.runtime = open_runtime(load_settings())
        self.issuer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        (data_dir / "issuer.key.pem").write_bytes(
            self.issuer.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.trust = single_issuer(self.base, [{**self.issuer.public_jwk, "kid": self.issuer.kid}])
        (data_dir / "trust.json").write_text(json.dumps(self.trust.to_json()))
        self.catalog = load_catalog(base_url=self.base)
        self.ctx = build_context(self.runtime, trust=self.trust, catalog=self.catalog)
        db = self.runtime.db
        with db.transaction() as session:
            self.rp = service.register_rp(
                session,
                self.ctx,
                name="Bench Bank",
                uscc_code="91350100M000100Y43",
                sector="bank",
                region="440300",
                client_host="bank.example.com",
                grants=[GRANT],
            )
            self.list_id = status_service.create_list(
                session, "marriage_license", signing_key="civil_affairs"
            ).id
        self.held = [self._credential(i) for i in range(32)]

    def _credential(self, i: int) -> tuple[str, LocalSigner]:
        holder = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        with self.runtime.db.transaction() as session:
            ref = status_service.allocate(session, self.list_id, f"bench-{i}", base_url=self.base)
        ctype = self.catalog.get("marriage_license")
        sd = [
            tuple(c.path.split("."))
            for c in ctype.all_claims()
            if c.selectively_disclosable and c.name != "name_latin"
        ]
        issued = issue_credential(
            signer=self.issuer,
            issuer=self.base,
            vct=ctype.vct,
            claims=MARRIAGE,
            selectively_disclosable=sd,
            holder_jwk=holder.public_jwk,
            expires_at=clock.epoch() + 3600,
            status=StatusReference(ref.uri, ref.idx),
        )
        return issued.serialize(), holder

    def presentations(self, n: int) -> list[tuple[service.Pending, dict[str, str]]]:
        out = []
        for i in range(n):
            with self.runtime.db.transaction() as session:
                rp = service.authenticate(session, self.rp.rp.id, self.rp.client_secret)
                created = service.create_request(session, self.ctx, rp, preset="mortgage")
                pending = service.load_pending(session, self.ctx, created.id)
            expect = pending.expectation
            query = expect.query.credentials[0]
            raw, holder = self.held[i % len(self.held)]
            vp = sd_jwt.present(
                raw,
                dcql.disclosure_paths(query, MARRIAGE),
                key_binding=sd_jwt.KeyBindingRequest(
                    signer=holder, nonce=expect.nonce, audience=expect.client_id
                ),
            )
            out.append(
                (pending, {"vp_token": json.dumps({query.id: [vp]}), "state": expect.request_id})
            )
        return out


# --- CPU time of the server processes ------------------------------------------------------


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it (uvicorn's supervisor and workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += children
        frontier = children
    return found


def _postgres_pids() -> list[int]:
    """Every local ``postgres`` process (the server and its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (each process's own threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


class Measured:
    """Verified presentations, wall seconds and server CPU seconds of one timed run
    (and the local PostgreSQL processes' CPU seconds, if they were watched)."""

    def __init__(
        self,
        count: int,
        wall: float,
        cpu: float,
        db_cpu: float | None = None,
        client_ms: float | None = None,
    ) -> None:
        self.count, self.wall, self.cpu, self.db_cpu = count, wall, cpu, db_cpu
        self.client_ms = client_ms

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def per_cpu(self) -> float:
        return self.count / self.cpu if self.cpu else float("nan")


class _Valid:
    def check(self, _issuer: str, _reference: StatusReference) -> Status:
        return Status.VALID


def library_rate(bench: Bench, items: list[tuple[service.Pending, dict[str, str]]]) -> Measured:
    verifier = checks.Verifier(bench.trust, bench.catalog, _Valid())
    start, cpu = time.perf_counter(), time.process_time()
    for pending, form in items:
        checks.verify_presentation(json.loads(form["vp_token"]), pending.expectation, verifier)
    return Measured(len(items), time.perf_counter() - start, time.process_time() - cpu)


def api_rate(
    bench: Bench,
    port: int,
    workers: int,
    n: int,
    *,
    watch_db: bool = False,
) -> tuple[Measured, Measured]:
    """The api row, best of two timed runs of ``n`` fresh presentations each (as the
    library's row is best of two), and the http floor, on one server."""
    warm = bench.presentations(4 * workers)
    runs = [bench.presentations(n), bench.presentations(n)]
    env = {**os.environ, **bench.env}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "verification:app_factory",
            "--app-dir",
            str(Path(__file__).parent),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
        ],
        env=env,
    )
    try:
        _wait(bench.base)
        _post_all(port, warm, workers)
        pids = _descendants(server.pid)
        db_pids = _postgres_pids() if watch_db else None
        api = max(
            (_timed(port, run, workers, pids, db_pids, floor=False) for run in runs),
            key=lambda m: m.per_cpu,
        )
        return api, _timed(port, runs[0], workers, pids, db_pids, floor=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _timed(
    port: int,
    items: list[tuple[service.Pending, dict[str, str]]],
    workers: int,
    pids: list[int],
    db_pids: list[int] | None,
    *,
    floor: bool,
) -> Measured:
    requests = _requests(port, items, floor=floor)  # encoded before the clock starts
    cpu = _cpu_seconds(pids)
    db_before = {pid: _cpu_seconds([pid]) for pid in db_pids} if db_pids is not None else {}
    load = _http_load.send("127.0.0.1", port, requests, 4 * workers)
    cpu = _cpu_seconds(pids) - cpu
    db_cpu = None
    if db_pids is not None:  # backends started during the run count from zero
        db_cpu = sum(_cpu_seconds([pid]) - db_before.get(pid, 0.0) for pid in set(_postgres_pids()))
    return Measured(len(items), load.wall, cpu, db_cpu, load.client_ms)


def _post_all(port: int, items: list[tuple[service.Pending, dict[str, str]]], workers: int) -> None:
    """Untimed: the warm-up responses."""
    _http_load.send("127.0.0.1", port, _requests(port, items, floor=False), 4 * workers)


def _requests(
    port: int, items: list[tuple[service.Pending, dict[str, str]]], *, floor: bool
) -> list[_http_load.Request]:
    """Each presentation as a ``direct_post`` to its request (200), or, for the http
    floor, to an unknown request id (404)."""
    return [
        _http_load.post_form(
            "127.0.0.1",
            port,
            f"/verification/responses/{'vpr_unknown' if floor else pending.expectation.request_id}",
            urlencode(form).encode("ascii"),
            404 if floor else 200,
        )
        for pending, form in items
    ]


def _wait(base: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"{base}/verification/jwks.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def postgres_rows(args: argparse.Namespace, items_per_run: int) -> list[tuple[str, Measured, int]]:
    """The api rows over a throwaway PostgreSQL database."""
    from sqlalchemy import create_engine, text

    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"elicense_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    rows: list[tuple[str, Measured, int]] = []
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        with tempfile.TemporaryDirectory() as tmp:
            port = _free_port()
            bench = Bench(Path(tmp), port, url)
            for workers in (1, 2):
                api, floor = api_rate(bench, port, workers, items_per_run, watch_db=True)
                rows.append((f"api, {workers} w., PostgreSQL, best of 2", api, workers))
                rows.append((f"  http floor, {workers} w., PostgreSQL", floor, workers))
            bench.runtime.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="presentations per contender")
    parser.add_argument(
        "--postgres", action="store_true", help="run the api rows over PostgreSQL too"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="an administrative connection to the PostgreSQL server (creates a database)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        bench = Bench(Path(tmp), port)
        first = library_rate(bench, bench.presentations(args.n))
        rows: list[tuple[str, Measured, int]] = []
        for workers in (1, 2):
            api, floor = api_rate(bench, port, workers, args.n)
            rows.append((f"api, {workers} worker(s), best of 2", api, workers))
            rows.append((f"  http floor, {workers} worker(s)", floor, workers))
        if args.postgres:
            rows += postgres_rows(args, args.n)
        again = library_rate(bench, bench.presentations(args.n))
        lib = max(first, again, key=lambda m: m.rate)
        rows.insert(0, ("library (1 thread, best of 2)", lib, 1))
        print(f"cores: {os.cpu_count()}, presentations per contender: {args.n}")
        print(
            f"{'contender':<34}{'verified/s':>11}{'per worker':>11}{'vs lib':>8}"
            f"{'srv CPU s':>11}{'per CPU-s':>11}{'vs lib':>8}{'db CPU s':>10}{'client ms':>11}"
        )
        for name, m, workers in rows:
            per = m.rate / workers
            db = f"{m.db_cpu:>10.2f}" if m.db_cpu is not None else f"{'':>10}"
            client = f"{m.client_ms:>11.3f}" if m.client_ms is not None else f"{'':>11}"
            print(
                f"{name:<34}{m.rate:>11.0f}{per:>11.0f}{per / lib.rate:>8.2f}"
                f"{m.cpu:>11.2f}{m.per_cpu:>11.0f}{m.per_cpu / lib.per_cpu:>8.2f}{db}{client}"
            )
        print("target: api verified per server CPU-second >= 0.40 x library per CPU-second")


if __name__ == "__main__":
    main()
