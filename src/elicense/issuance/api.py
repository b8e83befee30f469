"""HTTP: OpenID4VCI 1.0 issuer endpoints and discovery documents (thin; rules in service).

Errors from these endpoints are rendered by :func:`oauth_error_response` (installed by
:mod:`elicense.web.app`) as ``{"error", "error_description"}`` plus our problem fields.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

import qrcode
from fastapi import APIRouter, Body, Depends, Form, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from elicense import clock
from elicense.errors import (
    ELicenseError,
    InvalidAccessToken,
    InvalidDpopProof,
    IssuanceError,
    Unavailable,
)
from elicense.issuance import metadata, service
from elicense.issuance.jwt_proofs import DpopProof, verify_dpop
from elicense.issuance.keys import IssuerKeys
from elicense.issuance.service import IssuerContext
from elicense.web.deps import RuntimeDep, SessionDep

router = APIRouter(tags=["issuance"])
NO_STORE = {"Cache-Control": "no-store"}


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


ContextDep = Annotated[IssuerContext, Depends(get_context)]


# --- discovery ---------------------------------------------------------------------------


@router.get("/.well-known/openid-credential-issuer")
def credential_issuer_metadata(ctx: ContextDep) -> dict[str, Any]:
    return metadata.credential_issuer_metadata(ctx.catalog, ctx.base_url)


@router.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata(ctx: ContextDep) -> dict[str, Any]:
    return metadata.authorization_server_metadata(ctx.base_url)


@router.get("/.well-known/jwt-vc-issuer")
def jwt_vc_issuer_metadata(ctx: ContextDep) -> dict[str, Any]:
    return metadata.jwt_vc_issuer_metadata(ctx.base_url)


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


@router.post("/issuance/token")
def token(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    grant_type: Annotated[str | None, Form()] = None,
    pre_authorized_code: Annotated[str | None, Form(alias="pre-authorized_code")] = None,
    tx_code: Annotated[str | None, Form()] = None,
    dpop: Annotated[str | None, Header(alias="DPoP")] = None,
) -> JSONResponse:
    proof = verify_dpop(
        dpop, method="POST", url=ctx.base_url + metadata.TOKEN_PATH, now=clock.epoch()
    )
    granted = service.redeem_pre_authorized_code(
        session, grant_type=grant_type, code=pre_authorized_code, tx_code=tx_code, dpop=proof
    )
    if isinstance(granted, IssuanceError):
        return oauth_error_json(granted)  # not raised: the failure count must commit
    body = {
        "access_token": granted.access_token,
        "token_type": "DPoP",
        "expires_in": granted.expires_in,
    }
    return JSONResponse(body, headers={**NO_STORE, "Pragma": "no-cache"})


@router.post("/issuance/nonce")
def nonce(session: SessionDep) -> JSONResponse:
    return JSONResponse({"c_nonce": service.new_nonce(session)}, headers=NO_STORE)


# --- credential, notification ----------------------------------------------------------------


def _grant(
    request: Request,
    session: SessionDep,
    ctx: IssuerContext,
    authorization: str | None,
    dpop: str | None,
) -> service.TokenGrant:
    if "access_token" in request.query_params:
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
        proof: DpopProof = verify_dpop(
            dpop,
            method="POST",
            url=ctx.base_url + request.url.path,
            now=clock.epoch(),
            access_token=access_token,
        )
        return service.authenticate(session, access_token, proof)
    except InvalidDpopProof as exc:
        raise ResourceDpopError(exc.message, code=exc.instance_code) from None


class ResourceDpopError(InvalidDpopProof):
    """An invalid DPoP proof at a protected resource: ``401`` (RFC 9449 Section 7.1)."""

    status = 401


@router.post("/issuance/credential")
def credential(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header(alias="DPoP")] = None,
) -> JSONResponse:
    grant = _grant(request, session, ctx, authorization, dpop)
    batch = service.issue_credentials(session, ctx, grant, body)
    document = {
        "credentials": [{"credential": c} for c in batch.credentials],
        "notification_id": batch.notification_id,
    }
    return JSONResponse(document, headers=NO_STORE)


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
