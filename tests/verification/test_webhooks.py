"""Webhook deliveries against a real HTTP receiver on loopback: written with the result,
retried with backoff until taken, the same idempotency id in every attempt, given up
after N attempts or at the result's retention, claimed by one worker at a time, never
waited for by the response, logged without personal data."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from verification_support import BANK_USCC, MARRIAGE, MORTGAGE_GRANT, Env, create, post_vp, result

from elicense import clock
from elicense.crypto import jws
from elicense.crypto.jwk import load_public_jwk
from elicense.errors import ConfigError
from elicense.verification import service, webhooks
from elicense.verification.models import VerificationWebhookDelivery as Delivery

NO_JITTER = {"jitter": 0.0}


class Receiver:
    """An RP's webhook endpoint: answers each POST with the next of ``statuses`` (then
    the last one again), after ``delay`` seconds; keeps what it received."""

    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses, self.delay = statuses, delay
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                count = len(receiver.received)
                status = receiver.statuses[min(count, len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vp"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int], delay: float = 0.0) -> Receiver:
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _rp(env: Env, url: str) -> service.Registered:
    return env.register(
        "Bank of Nanshan", BANK_USCC, "bank", "440300", "bank.example.com", [MORTGAGE_GRANT], url
    )


def _present(env: Env, rp: service.Registered) -> dict[str, Any]:
    created = create(env, rp)
    response = post_vp(env, created, env.credential("marriage_license", MARRIAGE))
    assert response.status_code == 200, response.text
    return created


def _delivery(env: Env, request_id: str) -> Delivery:
    with env.db.transaction() as session:
        row = session.scalars(select(Delivery).where(Delivery.request_id == request_id)).one()
        session.expunge(row)
    return row


def _loop(env: Env, **policy: Any) -> webhooks.DeliveryLoop:
    return webhooks.DeliveryLoop(env.db, lambda: env.ctx, policy=webhooks.Policy(**policy))


def _claims(env: Env, body: bytes) -> dict[str, Any]:
    key = load_public_jwk(env.client.get("/verification/jwks.json").json()["keys"][0])
    token = jws.decode_compact(body.decode("ascii"))
    assert token.header["typ"] == service.WEBHOOK_TYP
    verified = jws.verify(token, key, allowed_algs=frozenset({"ES256"}))
    claims: dict[str, Any] = json.loads(verified.payload)
    return claims


@pytest.fixture
def real_env(env_factory: Callable[..., Env]) -> Env:
    return env_factory(real_webhooks=True)


def test_retried_with_backoff_until_taken_same_id_every_time(
    real_env: Env, receivers: Callable[..., Receiver]
) -> None:
    env, receiver = real_env, receivers([500, 503, 204])
    rp = _rp(env, receiver.url)
    created = _present(env, rp)
    recorded = _delivery(env, created["id"])  # durable before any attempt
    assert (recorded.state, recorded.attempts, recorded.body_sealed is not None) == (
        "pending",
        0,
        True,
    )
    loop = _loop(env, attempts=5, backoff=2.0, **NO_JITTER)
    try:
        assert loop.run_once() == 1
        after_first = _delivery(env, created["id"])
        assert (after_first.attempts, after_first.last_error) == (1, "http_500")
        assert loop.run_once() == 0  # not due for 2 s
        with clock.shifted(2.5):
            assert loop.run_once() == 1  # 503; the next is 4 s later
            assert _delivery(env, created["id"]).last_error == "http_503"
            assert loop.run_once() == 0
        with clock.shifted(2.5 + 4.5):
            assert loop.run_once() == 1
        with clock.shifted(120):
            assert loop.run_once() == 0
    finally:
        loop.stop()
    delivered = _delivery(env, created["id"])
    assert (delivered.state, delivered.attempts, delivered.body_sealed) == ("delivered", 3, None)
    assert len(receiver.received) == 3
    ids = {headers["Webhook-Id"] for headers, _ in receiver.received}
    assert ids == {recorded.id}
    assert [h["Webhook-Attempt"] for h, _ in receiver.received] == ["1", "2", "3"]
    assert {h["Content-Type"] for h, _ in receiver.received} == {"application/jwt"}
    claims = [_claims(env, body) for _, body in receiver.received]
    assert {c["jti"] for c in claims} == {recorded.id}
    polled = result(env, rp, created).json()
    for sent in claims:
        assert {k: v for k, v in sent.items() if k not in ("jti", "iat")} == polled


def test_given_up_after_the_last_attempt(
    real_env: Env, receivers: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    env, receiver = real_env, receivers([500])
    created = _present(env, _rp(env, receiver.url))
    loop = _loop(env, attempts=3, backoff=1.0, **NO_JITTER)
    caplog.set_level(logging.INFO, logger="elicense.verification.webhooks")
    try:
        for shift in (0, 1.5, 1.5 + 2.5, 100):
            with clock.shifted(shift):
                loop.run_once()
    finally:
        loop.stop()
    failed = _delivery(env, created["id"])
    assert (failed.state, failed.attempts, failed.last_error) == ("failed", 3, "http_500")
    assert failed.body_sealed is None  # the copy of the result is dropped
    assert len(receiver.received) == 3
    logged = caplog.text
    assert f"webhook {failed.id} (request {created['id']}) given up (failed)" in logged
    for secret in ("刘洋", "440305199004011234", receiver.url, "127.0.0.1"):
        assert secret not in logged


def test_given_up_at_the_results_retention(
    env_factory: Callable[..., Env], receivers: Callable[..., Receiver]
) -> None:
    env, receiver = env_factory(retention=10, real_webhooks=True), receivers([503])
    created = _present(env, _rp(env, receiver.url))
    loop = _loop(env, attempts=10, backoff=3.0, **NO_JITTER)
    try:
        assert loop.run_once() == 1
        with clock.shifted(3.5):
            assert loop.run_once() == 1  # the next one (6 s later) would be past retention
        with clock.shifted(100):
            assert loop.run_once() == 0
    finally:
        loop.stop()
    expired = _delivery(env, created["id"])
    assert (expired.state, expired.attempts, expired.body_sealed) == ("expired", 2, None)
    assert len(receiver.received) == 2


def test_retention_purge_gives_up_pending_deliveries(
    env_factory: Callable[..., Env], receivers: Callable[..., Receiver]
) -> None:
    env = env_factory(retention=10, real_webhooks=True)
    created = _present(env, _rp(env, receivers([204]).url))
    with clock.shifted(11), env.db.transaction() as session:
        service.purge_expired(session)
    expired = _delivery(env, created["id"])
    assert (expired.state, expired.attempts, expired.body_sealed) == ("expired", 0, None)


def test_one_worker_at_a_time_and_again_after_a_lost_worker(
    real_env: Env, receivers: Callable[..., Receiver]
) -> None:
    env = real_env
    created = _present(env, _rp(env, receivers([204]).url))
    policy = webhooks.Policy(lease=30.0)
    (first,) = webhooks.claim_due(env.db, policy)
    assert webhooks.claim_due(env.db, policy) == []  # leased to the first worker
    # the first worker dies without a word: after the lease the delivery is due again
    with clock.shifted(31):
        (again,) = webhooks.claim_due(env.db, policy)
    assert (again.id, first.attempt, again.attempt) == (first.id, 1, 2)
    assert _delivery(env, created["id"]).state == "pending"


def test_the_response_does_not_wait_for_the_rp(
    real_env: Env, receivers: Callable[..., Receiver]
) -> None:
    env, receiver = real_env, receivers([204], delay=3.0)
    rp = _rp(env, receiver.url)
    created = create(env, rp)
    held = env.credential("marriage_license", MARRIAGE)
    post_vp(env, create(env, rp), env.credential("marriage_license", MARRIAGE))  # warm-up
    started = time.monotonic()
    assert post_vp(env, created, held).status_code == 200
    assert time.monotonic() - started < 2.0
    assert receiver.received == []  # nothing sent from the response path


def test_the_loop_delivers_when_woken_by_a_response(
    real_env: Env, receivers: Callable[..., Receiver]
) -> None:
    env, receiver = real_env, receivers([204])
    rp = _rp(env, receiver.url)
    loop = webhooks.DeliveryLoop(env.db, lambda: env.ctx, interval=60.0)
    loop.start()
    env.app.state.verification_webhooks = loop
    try:
        loop.wake()  # its first pass (nothing due), then it sleeps for a minute
        time.sleep(0.3)
        created = _present(env, rp)  # ... unless a response wakes it
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loop.stop()
        del env.app.state.verification_webhooks
    assert len(receiver.received) == 1
    assert _claims(env, receiver.received[0][1])["request_id"] == created["id"]
    deadline = time.monotonic() + 5
    while _delivery(env, created["id"]).state != "delivered" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _delivery(env, created["id"]).state == "delivered"


@pytest.mark.parametrize("server", [True, False])
def test_lifespan_runs_the_loop_in_server_processes_only(real_env: Env, server: bool) -> None:
    runtime = dataclasses.replace(real_env.app.state.runtime, background_events=server)
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime, verification=real_env.ctx))
    seen: list[bool] = []

    async def run() -> None:
        async with webhooks.lifespan(app):
            loop = getattr(app.state, "verification_webhooks", None)
            seen.append(loop is not None and loop.running)

    asyncio.run(run())
    assert seen == [server]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (webhooks.ATTEMPTS_ENV, "0"),
        (webhooks.ATTEMPTS_ENV, "2.5"),
        (webhooks.BACKOFF_ENV, "-1"),
        (webhooks.BACKOFF_CAP_ENV, "soon"),
    ],
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        webhooks.Policy.from_env()


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = webhooks.Policy(backoff=2.0, cap=10.0, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    jittered = webhooks.Policy(backoff=2.0, cap=10.0, jitter=0.1)
    assert all(2.0 <= jittered.delay(1) <= 2.2 for _ in range(50))
