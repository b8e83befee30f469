"""Webhook deliveries: durable, retried with exponential backoff, at least once.

The response path writes a delivery row (``verification_webhook_deliveries``) in the
transaction that records the result, so a result is never recorded without its
delivery, and never waits for the RP. :class:`DeliveryLoop` (one daemon thread per
server process, started by :func:`lifespan` as the retention purge is; woken by the
response path, else polling every second) sends what is due:

* **claim** — in one transaction: deliveries past the result's retention are given up
  (``expired``), those out of attempts too (``failed``); then up to :data:`BATCH` due
  ones are claimed by a conditional update that moves their ``next_attempt_at`` a
  :attr:`Policy.lease` ahead, so no other worker takes them meanwhile (a worker that
  dies mid-attempt leaves them due again once the lease is over);
* **send** — ``POST`` to the RP's URL: ``application/jwt``, the result as a JWT signed
  by the webhook key (``typ: verification-result+jwt``, published at
  ``/verification/jwks.json``) with ``jti`` = the delivery id, the same in every
  attempt, also in the ``Webhook-Id`` header (``Webhook-Attempt`` counts from 1): the
  RP dedupes on it. Any 2xx is delivered; anything else (another status, a connection
  error or timeout, a redirect) is a failed attempt;
* **finish** — delivered: ``delivered``; failed: retried after
  ``min(backoff · 2^(n-1), cap)`` seconds (plus up to 10 % jitter) unless that was
  attempt :attr:`Policy.attempts` (``failed``) or the retry would fall after the
  result's retention (``expired``). Once delivered or given up, the delivery's sealed
  copy of the result is dropped.

Settings (seconds): ``ELICENSE_VERIFICATION_WEBHOOK_ATTEMPTS`` (default 8),
``ELICENSE_VERIFICATION_WEBHOOK_BACKOFF`` (first retry, default 2),
``ELICENSE_VERIFICATION_WEBHOOK_BACKOFF_CAP`` (default 60). Logs name the delivery and
request ids, the attempt and the error's kind (``http_503``, ``ConnectError``), never
the URL or anything of the result.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import random
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from sqlalchemy import bindparam, or_, select, update

from elicense import clock
from elicense.errors import ConfigError, CryptoError
from elicense.runtime import Runtime
from elicense.storage import prepared
from elicense.storage.db import Database
from elicense.verification import service
from elicense.verification.context import VerificationContext, context_of
from elicense.verification.models import VerificationWebhookDelivery as Delivery

log = logging.getLogger("elicense.verification.webhooks")
ATTEMPTS_ENV = "ELICENSE_VERIFICATION_WEBHOOK_ATTEMPTS"
BACKOFF_ENV = "ELICENSE_VERIFICATION_WEBHOOK_BACKOFF"
BACKOFF_CAP_ENV = "ELICENSE_VERIFICATION_WEBHOOK_BACKOFF_CAP"
#: Deliveries claimed (and sent concurrently) per pass.
BATCH = 16
SENDERS = 4
MEDIA_TYPE = "application/jwt"
DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, DEFAULT_CAP = 8, 2.0, 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """How often and how long a delivery is tried."""

    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    cap: float = DEFAULT_CAP
    jitter: float = 0.1
    #: How long a claimed delivery is left to its worker (beyond the HTTP timeout).
    lease: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
        base = min(self.backoff * 2.0 ** (attempt - 1), self.cap)
        return float(base * (1 + random.uniform(0, self.jitter)))  # noqa: S311 (jitter, not a secret)

    @classmethod
    def from_env(cls) -> Policy:
        return cls(
            attempts=int(_positive(ATTEMPTS_ENV, DEFAULT_ATTEMPTS, whole=True)),
            backoff=_positive(BACKOFF_ENV, DEFAULT_BACKOFF),
            cap=_positive(BACKOFF_CAP_ENV, DEFAULT_CAP),
        )


def _positive(name: str, default: float, *, whole: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        kind = "whole number" if whole else "number of seconds"
        raise ConfigError(f"{name} must be a positive {kind}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker may attempt now (attempt number ``attempt``)."""

    id: str
    request_id: str
    url: str
    body_sealed: bytes | None
    attempt: int
    expires_at: dt.datetime


# Whether anything is to be done, read without a transaction (a write transaction takes
# SQLite's write lock, and the loop looks every second in every worker).
_ANY_DUE = (
    select(Delivery.id)
    .where(
        Delivery.state == service.DELIVERY_PENDING,
        or_(Delivery.next_attempt_at <= bindparam("now"), Delivery.expires_at <= bindparam("now")),
    )
    .limit(1)
)
_any_due = prepared.PerDialect(lambda dialect: prepared.Prepared.compile(_ANY_DUE, dialect))


def claim_due(db: Database, policy: Policy, *, limit: int = BATCH) -> list[Claimed]:
    """Give up deliveries past retention or out of attempts; claim up to ``limit`` due."""
    now = clock.now()
    with (
        prepared.driver_connection(db.engine) as connection,
        connection.transaction(write=False) as cursor,
    ):
        anything = _any_due(db.engine.dialect).one_or_none(cursor, {"now": now})
    if anything is None:
        return []
    lease_until = now + dt.timedelta(seconds=policy.lease)
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.state == service.DELIVERY_PENDING, Delivery.expires_at <= now)
            .values(state=service.DELIVERY_EXPIRED, body_sealed=None, finished_at=now)
        )
        session.execute(
            update(Delivery)
            .where(
                Delivery.state == service.DELIVERY_PENDING,
                Delivery.attempts >= policy.attempts,
            )
            .values(state=service.DELIVERY_FAILED, body_sealed=None, finished_at=now)
        )
        due = session.execute(
            select(
                Delivery.id,
                Delivery.request_id,
                Delivery.url,
                Delivery.body_sealed,
                Delivery.attempts,
                Delivery.expires_at,
            )
            .where(Delivery.state == service.DELIVERY_PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
        ).all()
        claimed = []
        for row in due:
            taken = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == row.id,
                    Delivery.state == service.DELIVERY_PENDING,
                    Delivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=lease_until, attempts=Delivery.attempts + 1)
            )
            if getattr(taken, "rowcount", 0) == 1:
                claimed.append(
                    Claimed(
                        row.id,
                        row.request_id,
                        row.url,
                        row.body_sealed,
                        row.attempts + 1,
                        row.expires_at,
                    )
                )
    return claimed


def send(ctx: VerificationContext, claimed: Claimed) -> str | None:
    """One attempt: ``None`` if the RP took it (2xx), else the kind of failure."""
    if claimed.body_sealed is None:
        return "no_body"
    try:
        result = service.webhook_result(ctx, claimed.body_sealed)
    except CryptoError:
        return "unsealable"
    body = service.webhook_body(ctx, result, claimed.id, clock.epoch())
    headers = {
        "Content-Type": MEDIA_TYPE,
        "Webhook-Id": claimed.id,
        "Webhook-Attempt": str(claimed.attempt),
    }
    try:
        response = ctx.webhooks.post(claimed.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"http_{response.status_code}"


def finish(db: Database, policy: Policy, claimed: Claimed, error: str | None) -> str:
    """Record an attempt's outcome; the delivery's state after it."""
    now = clock.now()
    values: dict[str, Any]
    if error is None:
        state = service.DELIVERED
        values = {"state": state, "body_sealed": None, "finished_at": now, "last_error": None}
    else:
        retry_at = now + dt.timedelta(seconds=policy.delay(claimed.attempt))
        if claimed.attempt >= policy.attempts:
            state = service.DELIVERY_FAILED
        elif retry_at >= claimed.expires_at:
            state = service.DELIVERY_EXPIRED
        else:
            state = service.DELIVERY_PENDING
        values = {"last_error": error[:64]}
        if state == service.DELIVERY_PENDING:
            values["next_attempt_at"] = retry_at
        else:
            values.update(state=state, body_sealed=None, finished_at=now)
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == claimed.id, Delivery.state == service.DELIVERY_PENDING)
            .values(**values)
        )
    _log(claimed, error, state, values.get("next_attempt_at"), now)
    return state


def _log(
    claimed: Claimed, error: str | None, state: str, retry_at: dt.datetime | None, now: dt.datetime
) -> None:
    who = f"webhook {claimed.id} (request {claimed.request_id})"
    if error is None:
        log.info("%s delivered at attempt %d", who, claimed.attempt)
    elif retry_at is not None:
        wait = (retry_at - now).total_seconds()
        log.warning("%s attempt %d failed: %s; next in %.0f s", who, claimed.attempt, error, wait)
    else:
        log.warning("%s given up (%s) after attempt %d: %s", who, state, claimed.attempt, error)


class DeliveryLoop:
    """One daemon thread per server process sending due deliveries (see the module
    docstring); :meth:`wake` when a delivery was recorded, :meth:`run_once` for one pass."""

    def __init__(
        self,
        db: Database,
        context: Callable[[], VerificationContext],
        *,
        policy: Policy | None = None,
        interval: float = 1.0,
    ) -> None:
        self.db, self.context, self.interval = db, context, interval
        self.policy = policy or Policy()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elicense-webhooks", daemon=True)
        self._senders = concurrent.futures.ThreadPoolExecutor(
            SENDERS, thread_name_prefix="elicense-webhook-send"
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._senders.shutdown(wait=True)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self) -> int:
        """Claim what is due and attempt it (concurrently); how many were attempted."""
        claimed = claim_due(self.db, self.policy)
        if claimed:
            ctx = self.context()
            list(self._senders.map(lambda c: self._attempt(ctx, c), claimed))
        return len(claimed)

    def _attempt(self, ctx: VerificationContext, claimed: Claimed) -> None:
        finish(self.db, self.policy, claimed, send(ctx, claimed))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                attempted = self.run_once()
            except Exception as exc:  # noqa: BLE001 (the loop must survive; it retries later)
                log.warning("webhook deliveries failed: %s", type(exc).__name__)
                attempted = 0
            if attempted < BATCH:  # a full batch: more may be due at once
                self._wake.wait(self.interval)
                self._wake.clear()


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """In server processes (``runtime.background_events``): the delivery loop, as
    ``app.state.verification_webhooks`` (the response path wakes it)."""
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    loop = None
    if runtime is not None and runtime.background_events:
        state = app.state
        loop = DeliveryLoop(
            runtime.db, lambda: context_of(state, runtime), policy=Policy.from_env()
        )
        loop.start()
        state.verification_webhooks = loop
    try:
        yield
    finally:
        if loop is not None:
            loop.stop()
