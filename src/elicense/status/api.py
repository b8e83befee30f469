"""HTTP: ``GET /status/lists/{list_id}`` serves the signed Status List Token.

* Content negotiation on ``Accept``: ``application/statuslist+jwt`` (the default, also
  for ``*/*`` or no header) or ``application/statuslist+cwt``; anything else is a 406.
* ``ETag`` names the list version, form and signing time; ``If-None-Match`` with it
  gives ``304 Not Modified``. ``Cache-Control: public, max-age=<ttl>`` lets a CDN serve
  the list; ``Vary: Accept`` keeps the two forms apart.
* An unknown list is a problem+json 404 (``status_list_not_found``).

The signing keys come from ``app.state.status_signers``, a
:class:`~elicense.status.service.SignerSource` set by whoever builds the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from elicense.errors import ELicenseError, Unavailable
from elicense.status import service
from elicense.status.service import SignerSource
from elicense.status.token import CWT_MEDIA_TYPE, JWT_MEDIA_TYPE, TokenForm
from elicense.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix=service.LIST_PATH, tags=["status"])


class NotAcceptable(ELicenseError):
    code = "not_acceptable"
    status = 406
    title = "Not acceptable"


def get_signers(request: Request) -> SignerSource:
    """The app's signer source for status lists (``app.state.status_signers``)."""
    signers: SignerSource | None = getattr(request.app.state, "status_signers", None)
    if signers is None:
        raise Unavailable("status list signing keys are not configured", code="status_no_keys")
    return signers


SignersDep = Annotated[SignerSource, Depends(get_signers)]


@router.get(
    "/{list_id}",
    responses={
        200: {"content": {JWT_MEDIA_TYPE: {}, CWT_MEDIA_TYPE: {}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        404: {"description": "Unknown status list (problem+json)"},
    },
    summary="A signed Status List Token (JWT or CWT form)",
)
def get_status_list(
    list_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    signers: SignersDep,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    form = negotiate(accept)
    published = service.publish(
        session, list_id, form, signers, base_url=runtime.settings.public_base_url
    )
    headers = {
        "ETag": published.etag,
        "Cache-Control": f"public, max-age={published.ttl}",
        "Vary": "Accept",
    }
    if if_none_match is not None and _matches(if_none_match, published.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=published.token, media_type=published.media_type, headers=headers)


def negotiate(accept: str | None) -> TokenForm:
    """The form the client prefers by ``q`` (RFC 9110 12.5.1); JWT on ties or no header."""
    if accept is None or not accept.strip():
        return TokenForm.JWT
    ranges = _media_ranges(accept)
    jwt_q, cwt_q = _quality(ranges, JWT_MEDIA_TYPE), _quality(ranges, CWT_MEDIA_TYPE)
    if jwt_q <= 0 and cwt_q <= 0:
        raise NotAcceptable(
            f"this resource is available as {JWT_MEDIA_TYPE} or {CWT_MEDIA_TYPE}",
            code="not_acceptable",
        )
    return TokenForm.CWT if cwt_q > jwt_q else TokenForm.JWT


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The ``q`` of the most specific range covering ``media_type`` (0: not acceptable)."""
    kind = media_type.split("/")[0] + "/*"
    for wanted in (media_type, kind, "*/*"):
        qualities = [q for media_range, q in ranges if media_range == wanted]
        if qualities:
            return max(qualities)
    return 0.0


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_range:
            ranges.append((media_range.lower(), quality))
    return ranges


def _matches(if_none_match: str, etag: str) -> bool:
    candidates = {c.strip().removeprefix("W/") for c in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
