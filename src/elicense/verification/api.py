"""HTTP for the verifier (thin; rules live in :mod:`elicense.verification.service`).

RP back office (HTTP Basic with the RP id and its client secret):
``POST /verification/requests`` and ``GET /verification/requests/{id}/result``.
Wallet-facing: ``GET|POST /verification/request-objects/{id}`` (the ``request_uri``),
``POST /verification/responses/{id}`` (``direct_post`` / ``direct_post.jwt``),
``GET /verification/requests/{id}/qr.png``. Public: ``GET /verification/rps/{client_id}``
(the RP CA-signed registration), ``GET /verification/jwks.json`` (webhook key and RP CA).
Platform admin (Bearer ``ELICENSE_VERIFICATION_ADMIN_TOKEN``): ``POST /verification/rps``.

The context comes from ``app.state.verification`` (a
:class:`~elicense.verification.context.VerificationContext`), built from the runtime on
first use when the app builder did not set one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hmac
import io
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import qrcode
from fastapi import APIRouter, Depends, Form, Header, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from elicense.crypto.x509 import to_x5c
from elicense.errors import Conflict, ELicenseError, InvalidRequest, StorageError, Unauthorized
from elicense.runtime import Runtime
from elicense.storage import aio, prepared
from elicense.verification import retention, service, webhooks
from elicense.verification.checks import VerifiedPresentation, Verifier
from elicense.verification.context import ROUTE_PREFIX, VerificationContext, context_of
from elicense.verification.models import RelyingParty, VerificationRequest
from elicense.verification.policy import Grant
from elicense.verification.status_cache import FetchNeeded
from elicense.web.deps import RuntimeDep, SessionDep
from elicense.web.fastpath import FastRoute, HotPools, read_body

log = logging.getLogger("elicense.verification")


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Server processes run the retention purge and the webhook delivery loop."""
    async with retention.lifespan(app), webhooks.lifespan(app):
        yield
    await aio.close_for_loop()  # the response path's connections (PostgreSQL)


router = APIRouter(prefix=ROUTE_PREFIX, tags=["verification"], lifespan=_lifespan)
JWT_REQUEST_MEDIA = "application/oauth-authz-req+jwt"
FORM_MEDIA = "application/x-www-form-urlencoded"
MAX_RESPONSE_BYTES = 1024 * 1024


def get_context(request: Request, runtime: RuntimeDep) -> VerificationContext:
    return context_of(request.app.state, runtime)


ContextDep = Annotated[VerificationContext, Depends(get_context)]


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, value = (authorization or "").partition(" ")
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, secret = "", ""
    if scheme.lower() != "basic" or not user or not secret:
        raise Unauthorized("HTTP Basic credentials required", code="rp_unauthorized")
    return user, secret


def get_rp(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> service.RpInfo:
    rp_id, secret = _basic(authorization)
    return service.authenticate(session, rp_id, secret)


RpDep = Annotated[service.RpInfo, Depends(get_rp)]


class GrantIn(BaseModel):
    credential_type: str
    purposes: list[str] = Field(min_length=1)
    claims: list[str] = Field(min_length=1)


class RpIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    uscc: str
    sector: str
    region: str
    client_host: str = Field(min_length=1, max_length=253)
    grants: list[GrantIn] = Field(min_length=1)
    webhook_url: str | None = None
    client_id_prefix: str = "x509_san_dns"


class RequestIn(BaseModel):
    preset: str | None = None
    dcql_query: dict[str, Any] | None = None
    purpose: str | None = None
    response_mode: str = "direct_post"


@router.post("/rps", status_code=201, summary="Register a relying party (platform admin)")
def register_rp(
    body: RpIn,
    session: SessionDep,
    ctx: ContextDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    expected = f"Bearer {ctx.admin_token}" if ctx.admin_token else None
    if expected is None or not hmac.compare_digest(authorization or "", expected):
        raise Unauthorized("platform admin token required", code="admin_unauthorized")
    registered = service.register_rp(
        session,
        ctx,
        name=body.name,
        uscc_code=body.uscc,
        sector=body.sector,
        region=body.region,
        client_host=body.client_host,
        grants=[
            Grant(g.credential_type, frozenset(g.purposes), frozenset(g.claims))
            for g in body.grants
        ],
        webhook_url=body.webhook_url,
        client_id_prefix=body.client_id_prefix,
    )
    return {
        "rp_id": registered.rp.id,
        "client_id": registered.rp.client_id,
        "client_secret": registered.client_secret,
        "access_certificate": registered.certificate_pem,
    }


@router.get("/rps/{client_id}", summary="An RP's registration, signed by the RP CA")
def rp_registration(client_id: str, session: SessionDep, ctx: ContextDep) -> Response:
    token = service.registration_jwt(session, ctx, client_id)
    return Response(token, media_type="application/jwt")


@router.get("/jwks.json", summary="Webhook signing key and the RP CA certificate")
def jwks(ctx: ContextDep) -> dict[str, Any]:
    signer = ctx.webhook_signer
    return {
        "keys": [{**signer.public_jwk, "kid": signer.kid, "alg": signer.alg, "use": "sig"}],
        "rp_ca": list(to_x5c([ctx.ca.certificate])),
    }


@router.post("/requests", status_code=201, summary="Create a presentation request")
def create_request(
    body: RequestIn, rp: RpDep, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    created = service.create_request(
        session,
        ctx,
        rp,
        preset=body.preset,
        dcql_query=body.dcql_query,
        purpose=body.purpose,
        response_mode=body.response_mode,
    )
    return created.to_json()


@router.get("/requests/{request_id}/result", summary="The result, once")
def result(request_id: str, rp: RpDep, session: SessionDep, ctx: ContextDep) -> Response:
    found = service.fetch_result(session, ctx, rp, request_id)
    if found is None:
        return Response('{"status": "pending"}', status_code=202, media_type="application/json")
    return Response(json.dumps(found, ensure_ascii=False), media_type="application/json")


@router.get("/requests/{request_id}/qr.png", summary="Cross-device QR code")
def qr(request_id: str, session: SessionDep, ctx: ContextDep) -> Response:
    service.get_request_object(session, ctx, request_id)
    row_uri = ctx.url(f"/request-objects/{request_id}")
    client_id = _client_id_of(session, request_id)
    link = urlencode({"client_id": client_id, "request_uri": row_uri}, quote_via=quote)
    image = qrcode.make(f"openid4vp://?{link}")
    buffer = io.BytesIO()
    image.save(buffer)
    return Response(buffer.getvalue(), media_type="image/png")


def _client_id_of(session: Session, request_id: str) -> str:
    row = session.get(VerificationRequest, request_id)
    rp = session.get(RelyingParty, row.rp_id) if row else None
    return rp.client_id if rp else ""


@router.get("/request-objects/{request_id}", summary="The signed request object (request_uri)")
def request_object_get(request_id: str, session: SessionDep, ctx: ContextDep) -> Response:
    token = service.get_request_object(session, ctx, request_id)
    return Response(token, media_type=JWT_REQUEST_MEDIA)


@router.post("/request-objects/{request_id}", summary="request_uri_method=post")
def request_object_post(
    request_id: str,
    session: SessionDep,
    ctx: ContextDep,
    wallet_nonce: Annotated[str | None, Form()] = None,
    wallet_metadata: Annotated[str | None, Form()] = None,
) -> Response:
    token = service.get_request_object(session, ctx, request_id, wallet_nonce=wallet_nonce)
    return Response(token, media_type=JWT_REQUEST_MEDIA)


RESPONSE_PATH = "/responses/{request_id}"
_RESPONSE_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_MEDIA: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "vp_token": {"type": "string", "description": "JSON (direct_post)"},
                        "state": {"type": "string", "description": "the request id"},
                        "response": {"type": "string", "description": "JWE (direct_post.jwt)"},
                    },
                }
            }
        },
    }
}
# Where the response path runs. On SQLite, on the event loop itself: the statements run
# in-process and the work is CPU-bound under the GIL, so a hop to a thread only adds
# CPU (measured: see docs/verification.md). Two things may block, and they go to a
# small pool of the path's own instead: a status list fetch (the list may be served by
# this very process, whose loop must stay free to serve it) and a wait for SQLite's
# write lock (held by another process or thread). On PostgreSQL (psycopg) the checks
# run on the loop too, and the two statements go over the loop's own asynchronous
# connections (:mod:`elicense.storage.aio`): a thread hop per statement cost as much
# client CPU as the statement. Elsewhere (no cached verifier, another driver) the whole
# response runs in the pool, two threads, so that one thread's database round trip
# overlaps the other's checks. Never the framework's shared pool, which serves the
# status list. Webhooks are delivered by their own loop (:mod:`.webhooks`).
_response_pool = HotPools("vp-response", {"sqlite": 1}, default=2)


async def _response_route(request: Request) -> Response:
    """``POST /verification/responses/{id}`` as a plain Starlette endpoint: no
    dependency graph, no response model, the form parsed by :func:`_form` (the hot
    path of the verifier). Errors are :class:`ELicenseError`, rendered by the app."""
    request_id: str = request.path_params["request_id"]
    body = await read_body(request, MAX_RESPONSE_BYTES, code="response_too_large")
    form = _form(body, request.headers.get("content-type", ""))
    state = request.app.state
    runtime: Runtime = state.runtime
    ctx: VerificationContext | None = getattr(state, "verification", None)
    if ctx is None:
        ctx = await run_in_threadpool(get_context, request, runtime)
    if runtime.db.dialect == "sqlite" and ctx.cached_verifier is not None:
        lane = _LoopLane.of(asyncio.get_running_loop(), runtime, ctx)
        recorded = await lane.respond(ctx.cached_verifier, request_id, form)
    elif ctx.cached_verifier is not None and aio.supported(runtime.db.engine):
        recorded = await _respond_async(runtime, ctx, ctx.cached_verifier, request_id, form)
    else:
        pool = _response_pool(runtime.db.dialect)
        loop = asyncio.get_running_loop()
        recorded = await loop.run_in_executor(pool, _respond, runtime, ctx, request_id, form)
    outcome, _result, webhook = recorded
    if webhook:  # its delivery was recorded with the result: send it now
        deliveries: webhooks.DeliveryLoop | None = getattr(state, "verification_webhooks", None)
        if deliveries is not None:
            deliveries.wake()
    if isinstance(outcome, ELicenseError):
        raise outcome
    return Response(b"{}", media_type="application/json")


# Dispatched by the app ahead of its middleware (see :mod:`elicense.web.fastpath`).
FAST_ROUTES = [FastRoute("POST", ROUTE_PREFIX + RESPONSE_PATH, _response_route)]


@router.post(
    RESPONSE_PATH,
    summary="The wallet's response (direct_post[.jwt])",
    response_class=Response,
    responses={200: {"content": {"application/json": {"example": {}}}}},
    openapi_extra=_RESPONSE_FORM_SCHEMA,
)
async def response_endpoint(request_id: str, request: Request) -> Response:
    """Documents the route served by :func:`_response_route` (same handler)."""
    return await _response_route(request)


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != FORM_MEDIA:
        raise InvalidRequest(f"the response must be {FORM_MEDIA}", code="response_malformed")
    if len(body) > MAX_RESPONSE_BYTES:
        raise InvalidRequest("the response is too large", code="response_too_large")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the response is not a form", code="response_malformed") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise InvalidRequest("a form field is repeated", code="response_malformed")
    return {k: v for k, v in form.items() if k in ("vp_token", "state", "response")}


Outcome = VerifiedPresentation | ELicenseError
#: The outcome, the stored result and the RP's webhook URL (``None``: no webhook).
Recorded = tuple[Outcome, dict[str, Any], str | None]


def _respond(
    runtime: Runtime, ctx: VerificationContext, request_id: str, form: dict[str, str]
) -> Recorded:
    """Load, verify and record one response. Raises only when the request cannot be
    loaded or the outcome cannot be recorded."""
    # Never hold a transaction while verifying: the status list may be fetched over HTTP
    # from this service, and on SQLite each write transaction holds the write lock. So:
    # one autocommit read, the checks, then one write transaction whose conditional
    # update makes the nonce single-use, with the history row. Prepared statements on
    # one driver connection: SQLAlchemy's per-statement machinery cost more than the SQL.
    with prepared.driver_connection(runtime.db.engine) as connection:
        pending = service.load_pending_on(connection, ctx, request_id)
        outcome = _verify(ctx, ctx.verifier, pending, form)
        result = service.record_on(connection, ctx, pending, outcome)
    return outcome, result, pending.webhook_url


async def _respond_async(
    runtime: Runtime,
    ctx: VerificationContext,
    cached: Verifier,
    request_id: str,
    form: dict[str, str],
) -> Recorded:
    """:func:`_respond` on the event loop over PostgreSQL: the read and the record (one
    statement each, see :func:`service.record_async`) on the loop's asynchronous
    connections, each held only for its statement; the checks as on SQLite (see
    :meth:`_LoopLane.respond`)."""
    connections = aio.for_running_loop(runtime.db.engine)
    pending = await service.load_pending_async(connections, ctx, request_id)
    outcome = await _checks_on_loop(_response_pool(runtime.db.dialect), ctx, cached, pending, form)
    result = await service.record_async(connections, ctx, pending, outcome)
    return outcome, result, pending.webhook_url


async def _checks_on_loop(
    pool: concurrent.futures.Executor,
    ctx: VerificationContext,
    cached: Verifier,
    pending: service.Pending,
    form: dict[str, str],
) -> Outcome:
    """The checks on the loop with ``cached`` (a verifier whose status checker never
    fetches); on :class:`FetchNeeded` they run again in ``pool`` with the fetching one
    (they are pure, so nothing changes but the list's age)."""
    try:
        return _verify(ctx, cached, pending, form)
    except FetchNeeded:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, _verify, ctx, ctx.verifier, pending, form)


class _LoopLane:
    """The response path on one event loop over SQLite (see the pool comment above).

    One pooled connection is held while responses are in flight, for every load and
    commit, and given back when none is (no check-out per statement; its page cache
    stays warm). Outcomes are recorded by group commit: :meth:`_record` queues one and,
    for the first of a group, schedules :meth:`_flush` with ``call_soon``, so every
    response the loop verifies before that runs (those that arrived in the same loop
    iteration) joins the same transaction. Each response gets its own stored result,
    or its own :class:`~elicense.errors.Conflict`, only after the commit; a database
    error fails the whole group. A status list fetch, and a wait for SQLite's write
    lock, go to the response pool."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, runtime: Runtime, ctx: VerificationContext
    ) -> None:
        self.loop, self.runtime, self.ctx = loop, runtime, ctx
        self._held: prepared.DriverConnection | None = None
        self._in_flight = 0
        self._queued: list[tuple[service.Pending, Outcome, asyncio.Future[dict[str, Any]]]] = []

    @classmethod
    def of(
        cls, loop: asyncio.AbstractEventLoop, runtime: Runtime, ctx: VerificationContext
    ) -> _LoopLane:
        with _lanes_lock:  # loops of other threads (tests) may look up at the same time
            lanes = _lanes.setdefault(loop, {})
            lane = lanes.get((id(runtime), id(ctx)))
            if lane is None or lane.runtime is not runtime or lane.ctx is not ctx:
                lane = lanes[(id(runtime), id(ctx))] = cls(loop, runtime, ctx)
            return lane

    async def respond(self, cached: Verifier, request_id: str, form: dict[str, str]) -> Recorded:
        """:func:`_respond` on the loop, the checks by :func:`_checks_on_loop`."""
        self._in_flight += 1
        try:
            pending = self._with_connection(
                lambda connection: service.load_pending_on(connection, self.ctx, request_id)
            )
            outcome = await _checks_on_loop(self._pool(), self.ctx, cached, pending, form)
            result = await self._record(pending, outcome)
            return outcome, result, pending.webhook_url
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self.loop.call_soon(self._release_if_idle)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        return _response_pool(self.runtime.db.dialect)

    def _with_connection(self, work: Callable[[prepared.DriverConnection], _T]) -> _T:
        connection = self._held
        if connection is None:
            connection = self._held = prepared.DriverConnection.check_out(self.runtime.db.engine)
        try:
            with connection.storage_errors():
                return work(connection)
        except StorageError:
            self._release()  # a fresh connection next time
            raise

    def _release_if_idle(self) -> None:
        if not self._in_flight and not self._queued:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _record(self, pending: service.Pending, outcome: Outcome) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._queued.append((pending, outcome, future))
        if len(self._queued) == 1:
            self.loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        outcomes = [(pending, outcome) for pending, outcome, _ in queued]
        futures = [future for _, _, future in queued]
        try:
            recorded = self._with_connection(
                lambda connection: service.record_many_on(
                    connection, self.ctx, outcomes, wait=False
                )
            )
        except prepared.WriteLockBusy:
            engine = self.runtime.db.engine
            waited = self.loop.run_in_executor(
                self._pool(), service.record_many, engine, self.ctx, outcomes
            )
            waited.add_done_callback(lambda done: _settle_group(futures, done))
            return
        except Exception as exc:  # noqa: BLE001 - every response of the group gets it
            _fail_group(futures, exc)
            return
        _settle(futures, recorded)


_T = TypeVar("_T")
_lanes_lock = threading.Lock()
_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, int], _LoopLane]] = (
    weakref.WeakKeyDictionary()
)


def _settle(
    futures: list[asyncio.Future[dict[str, Any]]], recorded: list[dict[str, Any] | Conflict]
) -> None:
    for future, result in zip(futures, recorded, strict=True):
        if future.done():
            continue
        if isinstance(result, Conflict):
            future.set_exception(result)
        else:
            future.set_result(result)


def _settle_group(
    futures: list[asyncio.Future[dict[str, Any]]],
    done: asyncio.Future[list[dict[str, Any] | Conflict]],
) -> None:
    exc = done.exception()
    if exc is not None:
        _fail_group(futures, exc)
    else:
        _settle(futures, done.result())


def _fail_group(futures: list[asyncio.Future[dict[str, Any]]], exc: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(exc)


def _verify(
    ctx: VerificationContext, verifier: Verifier, pending: service.Pending, form: dict[str, str]
) -> Outcome:
    try:
        return service.verify(ctx, pending, form, verifier)
    except ELicenseError as exc:
        return exc
