"""HTTP: ``GET /status/lists/{list_id}`` serves the signed Status List Token.

* Content negotiation on ``Accept``: ``application/statuslist+jwt`` (the default, also
  for ``*/*`` or no header) or ``application/statuslist+cwt``; anything else is a 406.
* Content coding on ``Accept-Encoding`` (RFC 9110 12.5.3): ``gzip`` when the client
  accepts it (``x-gzip`` too) and it makes the token smaller, else no coding. Each
  version is compressed once per process (:class:`EncodedCache`), deterministically
  (gzip ``mtime`` 0), so every worker serves the same bytes under the same ETag.
* ``ETag`` names the list version, form and signing time, plus ``-gzip`` for the gzip
  representation (a strong validator per representation, RFC 9110 8.8.3);
  ``If-None-Match`` with the selected representation's tag gives ``304 Not Modified``.
  ``Cache-Control: public, max-age=<ttl>`` lets a CDN serve the list;
  ``Vary: Accept, Accept-Encoding`` keeps the forms and codings apart.
* An unknown list is a problem+json 404 (``status_list_not_found``).

The signing keys come from ``app.state.status_signers``, a
:class:`~elicense.status.service.SignerSource` set by whoever builds the app.
"""

from __future__ import annotations

import collections
import gzip
import threading
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

GZIP = "gzip"
IDENTITY = "identity"
_GZIP_LEVEL = 9
VARY = "Accept, Accept-Encoding"


class EncodedCache:
    """Content-coded tokens by (list, ETag, coding): compressed once per list version.

    A small LRU (``max_entries``); ``None`` records that a coding did not make a token
    smaller, so it is served without one.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: collections.OrderedDict[tuple[str, str, str], bytes | None] = (
            collections.OrderedDict()
        )
        self._max = max_entries
        self._lock = threading.Lock()
        self.encodings = 0

    def encoded(self, list_id: str, etag: str, coding: str, token: bytes) -> bytes | None:
        """``token`` in ``coding``, or ``None`` when that would not be smaller."""
        key = (list_id, etag, coding)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            self.encodings += 1
            body = encode(token, coding)
            value = body if len(body) < len(token) else None
            self._entries[key] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return value


def encode(token: bytes, coding: str) -> bytes:
    """``token`` in a content coding we offer (deterministic: the same bytes every time)."""
    if coding == GZIP:
        return gzip.compress(token, compresslevel=_GZIP_LEVEL, mtime=0)
    raise ValueError(f"unsupported content coding {coding!r}")


def get_encoded_cache(request: Request) -> EncodedCache:
    """The app's cache of content-coded status list tokens (made on first use)."""
    cache: EncodedCache | None = getattr(request.app.state, "status_encoded", None)
    if cache is None:
        cache = request.app.state.status_encoded = EncodedCache()
    return cache


EncodedDep = Annotated[EncodedCache, Depends(get_encoded_cache)]


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
    encoded: EncodedDep,
    accept: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    form = negotiate(accept)
    published = service.publish(
        session, list_id, form, signers, base_url=runtime.settings.public_base_url
    )
    body, etag = published.token, published.etag
    coding = negotiate_encoding(accept_encoding)
    compressed = None
    if coding != IDENTITY:
        compressed = encoded.encoded(published.list_id, published.etag, coding, body)
    headers = {"Cache-Control": f"public, max-age={published.ttl}", "Vary": VARY}
    if compressed is not None:
        body, etag = compressed, coded_etag(published.etag, coding)
        headers["Content-Encoding"] = coding
    headers["ETag"] = etag
    if if_none_match is not None and _matches(if_none_match, etag):
        headers.pop("Content-Encoding", None)
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=published.media_type, headers=headers)


def coded_etag(etag: str, coding: str) -> str:
    """The strong ETag of the ``coding`` representation: ``"v3-jwt-…"`` → ``"v3-jwt-…-gzip"``."""
    return f'{etag[:-1]}-{coding}"' if etag.endswith('"') else f"{etag}-{coding}"


def negotiate_encoding(accept_encoding: str | None) -> str:
    """``gzip`` when the client accepts it (and does not rank an explicit ``identity``
    above it); else ``identity``.

    RFC 9110 12.5.3: codings with ``q`` > 0 are acceptable, ``*`` stands for any coding
    not named, ``x-gzip`` is ``gzip``; no header means no coding is asked for. Where no
    coding we offer is acceptable the token goes without one.
    """
    if accept_encoding is None or not accept_encoding.strip():
        return IDENTITY
    ranges: dict[str, float] = {}
    for coding, q in _media_ranges(accept_encoding):
        coding = coding.removeprefix("x-")
        ranges[coding] = max(q, ranges.get(coding, 0.0))
    gzip_q = ranges.get(GZIP, ranges.get("*", 0.0))
    return GZIP if gzip_q > 0 and gzip_q >= ranges.get(IDENTITY, 0.0) else IDENTITY


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
