"""Bench: the pre-authorized OpenID4VCI flow over HTTP on loopback vs hello-world.

For SQLite and PostgreSQL, with 1 and 2 uvicorn workers, a fresh server (``elicense
serve`` subprocess, the same one ``elicense demo`` starts) is measured twice in the same
run:

* baseline: ``GET /.well-known/oauth-authorization-server`` — a static JSON document from
  the same FastAPI app (our "hello world": no database, no crypto);
* flow: token (DPoP) + nonce + credential (DPoP + key proof) for a fresh offer, as
  :class:`elicense.wallet.openid4vci.Holder` does it (the client signs the DPoP and key
  proofs and verifies the credential: that is part of the flow's cost).

Offers (in-person check + ``POST /issuance/offers``) are made before timing. Both loads
run with the same number of concurrent clients. Printed: hello req/s, credentials/s and
the ratio (time of one flow / time of one hello request); target on SQLite: <= 5x.

    .venv/bin/python bench/issuance_http.py [--flows 60] [--hello 400] [--clients 4]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from elicense.demo import call, free_port, prepare, running_server, server_environment
from elicense.wallet.errors import IssuerError
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


def make_offers(client: httpx.Client, base: str, seed: Any, count: int) -> list[dict[str, Any]]:
    registrar = seed.registrar
    body = {"username": registrar.username, "password": registrar.password}
    token = call(client, "POST", f"{base}/registry/auth/token", json=body)["access_token"]
    clerk = {"Authorization": f"Bearer {token}"}
    offers = []
    for i in range(count):
        person_id = seed.married_couple[i % 2]
        check = f"{base}/proofing/in-person-checks"
        vid = call(client, "POST", check, json={"person_id": person_id}, headers=clerk)["id"]
        req = {"verified_identity_id": vid, "credential_configuration_ids": [CONFIG]}
        offers.append(offer_when_committed(client, f"{base}/issuance/offers", req))
    return offers


def offer_when_committed(client: httpx.Client, url: str, req: dict[str, Any]) -> Any:
    """The server commits a request's transaction after sending its response (yield
    dependency), so a check made a moment ago can still be invisible: retry briefly."""
    time.sleep(0.05)
    try:
        return call(client, "POST", url, json=req)["credential_offer"]
    except IssuerError as exc:
        raise RuntimeError(f"offer refused: {exc.instance_code}") from None


def timed(fn: Callable[[Any], None], items: list[Any], clients: int) -> float:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(fn, items))
    return time.perf_counter() - started


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
                running_server(env, port, data_dir / "server.log", workers=workers) as url,
                httpx.Client(timeout=60, limits=httpx.Limits(max_connections=32)) as client,
            ):
                return measure(client, url, seed, args)
        finally:
            if db_name:
                with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def measure(
    client: httpx.Client, url: str, seed: Any, args: argparse.Namespace
) -> dict[str, float]:
    holder = Holder(client)
    offers = [parse_offer_object(o) for o in make_offers(client, url, seed, args.flows + 4)]
    metadata = fetch_issuer_metadata(client, url, holder.policy)
    server = fetch_authorization_server_metadata(client, url, holder.policy)
    trust = holder.issuer_trust(metadata, server)
    config = metadata.configuration(CONFIG)
    hello_url = f"{url}/.well-known/oauth-authorization-server"

    def hello(_: object) -> None:
        assert client.get(hello_url).status_code == 200

    def flow(offer: Any) -> None:
        session = _DpopSession(HolderKey.generate())
        token = holder.request_token(server, session, offer, None)
        issued, _ = holder.request_credentials(metadata, session, token, CONFIG, config, 1, trust)
        assert len(issued) == 1

    for offer in offers[:4]:  # warm-up (imports, key loading, connection pool)
        flow(offer)
    timed(hello, list(range(50)), args.clients)
    hello_s = timed(hello, list(range(args.hello)), args.clients)
    flow_s = timed(flow, offers[4:], args.clients)
    hello_rps, flows_ps = args.hello / hello_s, args.flows / flow_s
    return {"hello_rps": hello_rps, "flows_ps": flows_ps, "ratio": hello_rps / flows_ps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=60)
    parser.add_argument("--hello", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    print(f"{'backend':<11} {'workers':>7} {'hello req/s':>12} {'credentials/s':>14} {'ratio':>7}")
    for backend in args.backends.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            r = run_config(backend, workers, args)
            target = "  (target <= 5x)" if backend == "sqlite" else ""
            print(
                f"{backend:<11} {workers:>7} {r['hello_rps']:>12.0f} {r['flows_ps']:>14.1f}"
                f" {r['ratio']:>6.1f}x{target}",
                flush=True,
            )


if __name__ == "__main__":
    main()
