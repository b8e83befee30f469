"""Benchmark: OpenID4VP presentations verified per second, HTTP API vs pure library.

Run: ``.venv/bin/python bench/verification.py [--n 400]`` (about a minute).

In one run, on one machine, with the same marriage-license presentations (mortgage
preset: 5 disclosed claims, ES256 issuer signature and KB-JWT):

* **library** - :func:`elicense.verification.checks.verify_presentation` in this
  process, one thread (every check: trust list, signatures, validity, KB-JWT, status
  from an already verified list, DCQL, over-disclosure, RP permission, region);
* **api, W workers** - ``POST /verification/responses/{id}`` (``direct_post``) to
  ``uvicorn --workers W`` on loopback over SQLite, from a thread pool; each response
  loads its request, verifies, and records the outcome (two short transactions). The
  status list is fetched over HTTP from the same server once per worker and ``ttl``.

* **http floor** - the same POSTs to an unknown request id (form parsing, one
  database look-up, a 404): what the web stack and the load generator cost alone.

The ratio printed is the API rate per worker over the library rate (target >= 0.40).
The load generator (``httpx``, a thread pool) shares the machine's cores with the
server, so the figure is a lower bound. No absolute time is a pass/fail criterion.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
    """The status + verification routers over the bench's data directory."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from elicense.errors import ELicenseError
    from elicense.status.api import router as status_router
    from elicense.verification.api import router as verification_router

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

    app = FastAPI()
    app.state.runtime = runtime
    app.state.status_signers = Signers()
    app.add_exception_handler(ELicenseError, problem)
    app.include_router(status_router)
    app.include_router(verification_router)
    return app


# --- set-up --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            "ELICENSE_DATA_DIR": str(data_dir),
            "ELICENSE_PUBLIC_BASE_URL": self.base,
            "ELICENSE_LOG_LEVEL": "WARNING",
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


class _Valid:
    def check(self, _issuer: str, _reference: StatusReference) -> Status:
        return Status.VALID


def library_rate(bench: Bench, items: list[tuple[service.Pending, dict[str, str]]]) -> float:
    verifier = checks.Verifier(bench.trust, bench.catalog, _Valid())
    start = time.perf_counter()
    for pending, form in items:
        checks.verify_presentation(json.loads(form["vp_token"]), pending.expectation, verifier)
    return len(items) / (time.perf_counter() - start)


def api_rate(
    bench: Bench, port: int, workers: int, items: list[tuple[service.Pending, dict[str, str]]]
) -> float:
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
        ],
        env=env,
    )
    try:
        _wait(bench.base)
        with httpx.Client(base_url=bench.base, timeout=30) as client:
            warm, timed = items[: 4 * workers], items[4 * workers :]
            _post_all(client, warm, workers)
            start = time.perf_counter()
            _post_all(client, timed, workers)
            rate = len(timed) / (time.perf_counter() - start)
            start = time.perf_counter()
            _post_all(client, timed, workers, floor=True)
            return rate, len(timed) / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post_all(
    client: httpx.Client,
    items: list[tuple[service.Pending, dict[str, str]]],
    workers: int,
    *,
    floor: bool = False,
) -> None:
    def post(item: tuple[service.Pending, dict[str, str]]) -> None:
        pending, form = item
        target = "vpr_unknown" if floor else pending.expectation.request_id
        response = client.post(f"/verification/responses/{target}", data=form)
        if response.status_code != (404 if floor else 200):
            raise SystemExit(f"API refused a presentation: {response.text}")

    with ThreadPoolExecutor(max_workers=4 * workers) as pool:
        list(pool.map(post, items))


def _wait(base: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"{base}/verification/jwks.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="presentations per contender")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        bench = Bench(Path(tmp), port)
        lib = library_rate(bench, bench.presentations(args.n))
        rows: list[tuple[str, float, int]] = []
        for workers in (1, 2):
            rate, floor = api_rate(bench, port, workers, bench.presentations(args.n))
            rows.append((f"api, {workers} uvicorn worker(s)", rate, workers))
            rows.append((f"  http floor, {workers} worker(s)", floor, workers))
        lib_again = library_rate(bench, bench.presentations(args.n))
        lib = max(lib, lib_again)
        rows.insert(0, ("library (1 thread, best of 2)", lib, 1))
        print(f"cores: {os.cpu_count()}, presentations per contender: {args.n}")
        print(f"{'contender':<28}{'verified/s':>12}{'per worker':>12}{'vs library':>12}")
        for name, rate, workers in rows:
            per = rate / workers
            print(f"{name:<28}{rate:>12.0f}{per:>12.0f}{per / lib:>12.2f}")
        print("target: api per worker >= 0.40 x library")


if __name__ == "__main__":
    main()
