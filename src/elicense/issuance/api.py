"""HTTP: OpenID4VCI 1.0 issuer endpoints and discovery documents (thin; rules in service).

Errors from these endpoints are rendered by :func:`oauth_error_response` (installed by
:mod:`elicense.web.app`) as ``{"error", "error_description"}`` plus our problem fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

import qrcode
from fastapi import APIRouter, Body, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import (
    Conflict,
    ELicenseError,
    InvalidAccessToken,
    InvalidDpopProof,
    IssuanceError,
    Unavailable,
    ValidationFailed,
)
from elicense.issuance import metadata, service
from elicense.issuance.jwt_proofs import DpopProof, verify_dpop
from elicense.issuance.keys import IssuerKeys
from elicense.issuance.service import IssuerContext
from elicense.issuance.store import IssuanceTx, token_in_one_statement
from elicense.runtime import Runtime
from elicense.status import service as status_service
from elicense.status.service import NeedOpenList
from elicense.storage.prepared import driver_cursor
from elicense.web.deps import RuntimeDep, SessionDep
from elicense.web.fastpath import FastRoute, HotPools, read_body

router = APIRouter(tags=["issuance"])
_T = TypeVar("_T")
NO_STORE = {"Cache-Control": "no-store"}
FORM_MEDIA = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 256 * 1024


_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "pre-authorized_code"],
                    "properties": {
                        "grant_type": {"type": "string", "example": service.PRE_AUTHORIZED_GRANT},
                        "pre-authorized_code": {"type": "string"},
                        "tx_code": {"type": "string"},
                    },
                }
            }
        },
    }
}


def get_keys(runtime: RuntimeDep) -> IssuerKeys:
    if runtime.issuer_keys is None:
        raise Unavailable("issuer keys are not configured", code="issuer_no_keys")
    return runtime.issuer_keys


KeysDep = Annotated[IssuerKeys, Depends(get_keys)]


def get_context(runtime: RuntimeDep, keys: KeysDep) -> IssuerContext:
    assert runtime.catalog is not None
    return IssuerContext(
        catalog=runtime.catalog,
        signers=keys,
        sealer=runtime.sealer,
        base_url=runtime.settings.public_base_url,
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request) -> IssuerContext:
    """The app's issuer context, built on first use and kept (a runtime is immutable)."""
    state = request.app.state
    ctx: IssuerContext | None = getattr(state, "issuer_context", None)
    if ctx is None:
        runtime = _runtime(request)
        ctx = state.issuer_context = get_context(runtime, get_keys(runtime))
    return ctx


ContextDep = Annotated[IssuerContext, Depends(get_context)]


# --- discovery ---------------------------------------------------------------------------


# Built once per runtime (catalogue and URL are fixed for a process) and served as bytes.


@router.get("/.well-known/openid-credential-issuer")
async def credential_issuer_metadata(request: Request) -> Response:
    return _document(request, "issuer")


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: Request) -> Response:
    return _document(request, "authorization_server")


@router.get("/.well-known/jwt-vc-issuer")
async def jwt_vc_issuer_metadata(request: Request) -> Response:
    return _document(request, "jwt_vc_issuer")


def _document(request: Request, name: str) -> Response:
    cache: dict[str, bytes] | None = getattr(request.app.state, "issuer_documents", None)
    if cache is None:
        cache = request.app.state.issuer_documents = {}
    if name not in cache:
        cache[name] = _render(_discovery(_context(request), name))
    return Response(cache[name], media_type="application/json")


def _discovery(ctx: IssuerContext, name: str) -> dict[str, Any]:
    if name == "issuer":
        return metadata.credential_issuer_metadata(ctx.catalog, ctx.base_url)
    if name == "authorization_server":
        return metadata.authorization_server_metadata(ctx.base_url)
    return metadata.jwt_vc_issuer_metadata(ctx.base_url)


def _render(document: dict[str, Any]) -> bytes:
    return bytes(JSONResponse(document).body)


@router.get("/.well-known/jwks.json")
def jwks(keys: KeysDep) -> JSONResponse:
    headers = {"Cache-Control": "public, max-age=300"}
    return JSONResponse(keys.jwks(), headers=headers)


# --- offers --------------------------------------------------------------------------------


class OfferIn(BaseModel):
    verified_identity_id: str = Field(min_length=1, max_length=64)
    credential_configuration_ids: list[str] = Field(min_length=1, max_length=8)
    tx_code: bool = False


@router.post("/issuance/offers", status_code=status.HTTP_201_CREATED)
def create_offer(body: OfferIn, session: SessionDep, ctx: ContextDep) -> JSONResponse:
    offer = service.create_offer(
        session,
        ctx,
        verified_identity_id=body.verified_identity_id,
        configuration_ids=body.credential_configuration_ids,
        with_tx_code=body.tx_code,
    )
    document = {
        "offer_id": offer.offer_id,
        "credential_offer": offer.credential_offer,
        "credential_offer_uri": offer.credential_offer_uri,
        "deep_link": offer.deep_link,
        "qr_png_uri": offer.qr_png_uri,
        "tx_code": offer.tx_code,
        "expires_at": offer.expires_at.isoformat().replace("+00:00", "Z"),
    }
    return JSONResponse(document, status_code=201, headers=NO_STORE)


@router.get("/issuance/offers/{offer_id}")
def offer_by_reference(offer_id: str, session: SessionDep, ctx: ContextDep) -> JSONResponse:
    return JSONResponse(service.offer_by_reference(session, ctx, offer_id), headers=NO_STORE)


@router.get("/issuance/offers/{offer_id}/qr.png", response_class=Response)
def offer_qr(offer_id: str, session: SessionDep, ctx: ContextDep) -> Response:
    service.offer_by_reference(session, ctx, offer_id)
    link = service.deep_link(service.offer_uri(ctx.base_url, offer_id))
    buffer = io.BytesIO()
    qrcode.make(link, border=2).save(buffer)
    return Response(buffer.getvalue(), media_type="image/png", headers=NO_STORE)


# --- token, nonce --------------------------------------------------------------------------


# The three hot endpoints (token, nonce, credential) are fast routes
# (:mod:`elicense.web.fastpath`: no middleware, router or dependency graph), each with a
# documented FastAPI route of the same path calling the same handler. Each does its work
# where :func:`_blocking` says, its transaction committed there before the response is
# sent, on compiled statements
# (:class:`~elicense.issuance.store.IssuanceTx`). Crypto checks run before the
# transaction opens, so that on SQLite (BEGIN IMMEDIATE) the write lock is held for
# database work only.

# Where the hot endpoints' blocking work runs. On SQLite, inline on the event loop: the
# statements run in-process and take microseconds, the rest is CPU under the GIL, so a
# hop to a thread only adds its own cost (measured: about a tenth of the flow's CPU);
# a wait for the write lock is bounded by other writers' transactions, all short. On a
# networked database, a small pool of its own, so that one request's round trips overlap
# another's crypto (never the framework's shared pool: cheaper to hop to, and not
# starved by slow endpoints).
_INLINE = frozenset({"sqlite"})
_pools = HotPools("vci-hot", {}, default=4)


async def _blocking(runtime: Runtime, fn: Callable[..., _T], *args: Any) -> _T:
    dialect = runtime.db.dialect
    if dialect in _INLINE:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(_pools(dialect), fn, *args)


@contextlib.contextmanager
def _hot_transaction(runtime: Runtime, *, write: bool = True) -> Iterator[IssuanceTx]:
    engine = runtime.db.engine
    with driver_cursor(engine, write=write) as cursor:
        yield IssuanceTx(cursor, engine.dialect, runtime.sealer)


async def _token_route(request: Request) -> Response:
    form = _form(await _body(request), request.headers.get("content-type", ""))
    ctx, runtime = _context(request), _runtime(request)
    return await _blocking(runtime, _token, runtime, ctx, form, request.headers.get("dpop"))


@router.post("/issuance/token", openapi_extra=_TOKEN_FORM_SCHEMA)
async def token(request: Request) -> Response:
    """The token endpoint (pre-authorized code grant, DPoP-bound tokens)."""
    return await _token_route(request)


def _token(
    runtime: Runtime, ctx: IssuerContext, form: Mapping[str, str], dpop: str | None
) -> JSONResponse:
    proof = verify_dpop(
        dpop, method="POST", url=ctx.base_url + metadata.TOKEN_PATH, now=clock.epoch()
    )
    grant_type, code = form.get("grant_type"), form.get("pre-authorized_code")
    granted: service.GrantedToken | IssuanceError | None
    # one statement where the database can (no transaction around it), else three in one
    one_statement = token_in_one_statement(runtime.db.engine.dialect)
    with _hot_transaction(runtime, write=not one_statement) as tx:
        granted = service.redeem_fast(tx, grant_type=grant_type, code=code, dpop=proof)
    if granted is None:  # a transaction code, or an error to explain: the checking path
        with runtime.db.transaction() as session:
            granted = service.redeem_pre_authorized_code(
                session, grant_type=grant_type, code=code, tx_code=form.get("tx_code"), dpop=proof
            )
    if isinstance(granted, IssuanceError):
        return oauth_error_json(granted)  # not raised: the failure count must commit
    body = {
        "access_token": granted.access_token,
        "token_type": "DPoP",
        "expires_in": granted.expires_in,
    }
    return JSONResponse(body, headers={**NO_STORE, "Pragma": "no-cache"})


async def _nonce_route(request: Request) -> Response:
    runtime = _runtime(request)
    value = await _blocking(runtime, _nonce, runtime)
    return JSONResponse({"c_nonce": value}, headers=NO_STORE)


@router.post("/issuance/nonce")
async def nonce(request: Request) -> Response:
    """The nonce endpoint: a fresh single-use ``c_nonce``."""
    return await _nonce_route(request)


def _nonce(runtime: Runtime) -> str:
    with _hot_transaction(runtime, write=False) as tx:  # one INSERT: atomic on its own
        return service.new_nonce(tx)


async def _body(request: Request) -> bytes:
    return await read_body(request, MAX_BODY_BYTES, code="body_too_large")


def _form(body: bytes, content_type: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (anything else reads as empty)."""
    if content_type.split(";")[0].strip().lower() != FORM_MEDIA:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("the form is malformed", code="form_malformed") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise ValidationFailed("the body is not JSON", code="json_invalid") from None
    if not isinstance(value, dict):
        raise ValidationFailed("the body must be a JSON object", code="json_not_object")
    return value


# --- credential, notification ----------------------------------------------------------------


def _grant(
    request: Request,
    session: SessionDep,
    ctx: IssuerContext,
    authorization: str | None,
    dpop: str | None,
) -> service.TokenGrant:
    access_token, proof = _resource_dpop(
        ctx, request.url.path, "access_token" in request.query_params, authorization, dpop
    )
    return _authenticate(session, access_token, proof)


def _resource_dpop(
    ctx: IssuerContext, path: str, token_in_query: bool, authorization: str | None, dpop: str | None
) -> tuple[str, DpopProof]:
    """The access token and its verified DPoP proof (pure: no database)."""
    if token_in_query:
        raise InvalidAccessToken(
            "access tokens are never accepted in the query string", code="access_token_in_query"
        )
    scheme, _, access_token = (authorization or "").partition(" ")
    if scheme.lower() != "dpop" or not access_token.strip():
        raise InvalidAccessToken(
            "send the access token as Authorization: DPoP <token>", code="dpop_token_required"
        )
    access_token = access_token.strip()
    try:
        proof = verify_dpop(
            dpop,
            method="POST",
            url=ctx.base_url + path,
            now=clock.epoch(),
            access_token=access_token,
        )
    except InvalidDpopProof as exc:
        raise ResourceDpopError(exc.message, code=exc.instance_code) from None
    return access_token, proof


def _authenticate(session: Session, access_token: str, proof: DpopProof) -> service.TokenGrant:
    try:
        return service.authenticate(session, access_token, proof)
    except InvalidDpopProof as exc:
        raise ResourceDpopError(exc.message, code=exc.instance_code) from None


def _authenticate_tx(tx: IssuanceTx, access_token: str, proof: DpopProof) -> service.TokenGrant:
    try:
        return service.authenticate_tx(tx, access_token, proof)
    except InvalidDpopProof as exc:
        raise ResourceDpopError(exc.message, code=exc.instance_code) from None


class ResourceDpopError(InvalidDpopProof):
    """An invalid DPoP proof at a protected resource: ``401`` (RFC 9449 Section 7.1)."""

    status = 401


async def _credential_route(request: Request) -> Response:
    raw = await _body(request)
    headers = request.headers
    runtime = _runtime(request)
    return await _blocking(
        runtime,
        _credential,
        _runtime(request),
        _context(request),
        request.url.path,
        "access_token" in request.query_params,
        headers.get("authorization"),
        headers.get("dpop"),
        raw,
    )


def _credential(
    runtime: Runtime,
    ctx: IssuerContext,
    path: str,
    token_in_query: bool,
    authorization: str | None,
    dpop: str | None,
    raw: bytes,
) -> JSONResponse:
    body = _json_object(raw)
    access_token, proof = _resource_dpop(ctx, path, token_in_query, authorization, dpop)
    request = service.check_request(ctx, body)  # key proofs verified outside the transaction
    for attempt in (1, 2):
        try:
            with _hot_transaction(runtime) as tx:
                grant = _authenticate_tx(tx, access_token, proof)
                unsigned = service.record_credentials(tx, ctx, grant, request)
            break
        except NeedOpenList as need:  # rolled back; open a status list, then once more
            if attempt == 2:
                raise Conflict("no status list accepts entries", code="status_list_full") from None
            _open_status_list(runtime, ctx, need)
    batch = service.sign_credentials(ctx, unsigned)  # after commit: a retry re-signs the same
    document = {
        "credentials": [{"credential": c} for c in batch.credentials],
        "notification_id": batch.notification_id,
    }
    return JSONResponse(document, headers=NO_STORE)


@router.post("/issuance/credential")
async def credential(request: Request) -> Response:
    """The credential endpoint (``dc+sd-jwt``; JWT key proofs, batches)."""
    return await _credential_route(request)


def _open_status_list(runtime: Runtime, ctx: IssuerContext, need: NeedOpenList) -> None:
    signing_key = ctx.catalog.get(need.purpose).authority.signing_key
    with runtime.db.transaction() as session:
        status_service.open_list_for(session, need.purpose, signing_key=signing_key, full=need.full)


# Dispatched by the app ahead of its middleware (see :mod:`elicense.web.fastpath`).
FAST_ROUTES = [
    FastRoute("POST", metadata.TOKEN_PATH, _token_route),
    FastRoute("POST", "/issuance/nonce", _nonce_route),
    FastRoute("POST", "/issuance/credential", _credential_route),
]


@router.post("/issuance/notification", status_code=status.HTTP_204_NO_CONTENT)
def notification(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header(alias="DPoP")] = None,
) -> Response:
    grant = _grant(request, session, ctx, authorization, dpop)
    service.notify(session, grant, body)
    return Response(status_code=204)


# --- errors --------------------------------------------------------------------------------


async def oauth_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """``{"error", "error_description"}`` (RFC 6749 / OpenID4VCI) plus our problem fields."""
    assert isinstance(exc, ELicenseError)
    return oauth_error_json(exc)


def oauth_error_json(exc: ELicenseError) -> JSONResponse:
    """The OAuth/OpenID4VCI error body for ``exc`` (with its problem+json fields)."""
    body = exc.to_problem()
    body["error"] = exc.protocol_error or "invalid_request"
    body["error_description"] = exc.message
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'DPoP error="{body["error"]}", algs="ES256 EdDSA"'
    return JSONResponse(body, status_code=exc.status, headers=headers)


__all__ = ["IssuanceError", "oauth_error_response", "router"]
