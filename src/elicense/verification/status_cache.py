"""Status lists for the verifier: fetched over HTTP, verified once, cached for ``ttl``.

:class:`StatusListCache` keeps each verified Status List Token for
``min(ttl, max_ttl)`` seconds (``ttl`` from the token, the issuer's refresh hint;
``max_ttl`` bounds it), fetches at most once per URI at a time (a lock per URI), and
fails **closed**: a list that cannot be fetched or verified raises
:class:`~elicense.errors.StatusUnavailable` (``status_list_unreachable`` with the
reason) or the checker's specific code, never "valid". The list's URI must share the
origin of the credential's issuer (``status_uri_untrusted`` otherwise), so a
credential cannot make the verifier fetch arbitrary URLs.

:meth:`StatusListCache.cached_only` is the same cache as a checker that never fetches:
where the list is not cached and fresh it raises :class:`FetchNeeded` (not an
:class:`~elicense.errors.ELicenseError`, so no check records it), and the caller runs
the verification again with the fetching checker. The response path uses it to verify
on the event loop, which must not wait on HTTP (the list may be served by the same
process).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from elicense import clock
from elicense.crypto.trust import IssuerKey, TrustList
from elicense.errors import (
    InvalidToken,
    StatusUnavailable,
)
from elicense.formats.sd_jwt_vc import StatusReference
from elicense.status import check
from elicense.status.check import require_valid
from elicense.status.token import JWT_MEDIA_TYPE
from elicense.status.token_status_list import Status, StatusList

DEFAULT_MAX_TTL = 300
DEFAULT_TIMEOUT = 3.0


class FetchNeeded(Exception):
    """The status list is not cached and fresh; only a fetching checker can answer."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    status_list: StatusList
    fresh_until: int


class StatusListCache:
    """Verified status lists by URI, shared by every verification in the process."""

    def __init__(
        self,
        trust: TrustList,
        *,
        transport: httpx.BaseTransport | None = None,
        max_ttl: int = DEFAULT_MAX_TTL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._trust = trust
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._max_ttl = max_ttl
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0

    def close(self) -> None:
        self._client.close()

    def check(self, issuer: str, reference: StatusReference) -> Status:
        """:attr:`Status.VALID` or raise revoked / suspended / unavailable."""
        _require_same_origin(issuer, reference.uri)
        return _status_at(self._list(issuer, reference.uri), reference.idx)

    def check_cached(self, issuer: str, reference: StatusReference) -> Status:
        """:meth:`check` from the cache alone: :class:`FetchNeeded` where it would fetch."""
        _require_same_origin(issuer, reference.uri)
        status_list = self._cached(reference.uri)
        if status_list is None:
            raise FetchNeeded(reference.uri)
        return _status_at(status_list, reference.idx)

    def cached_only(self) -> CachedOnly:
        """This cache as a status checker that never fetches (see the module docstring)."""
        return CachedOnly(self)

    def _cached(self, uri: str) -> StatusList | None:
        """The list if it is cached and still fresh (within ``min(ttl, max_ttl)``)."""
        entry = self._entries.get(uri)
        if entry is not None and clock.epoch() < entry.fresh_until:
            return entry.status_list
        return None

    def _list(self, issuer: str, uri: str) -> StatusList:
        status_list = self._cached(uri)
        if status_list is not None:
            return status_list
        with self._lock_for(uri):
            status_list = self._cached(uri)
            if status_list is not None:
                return status_list
            entry = self._fetch(issuer, uri)
            self._entries[uri] = entry
            return entry.status_list

    def _lock_for(self, uri: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uri, threading.Lock())

    def _fetch(self, issuer: str, uri: str) -> _Entry:
        self.fetches += 1
        try:
            status_code, body = self._get(uri)
        except httpx.HTTPError as exc:
            raise StatusUnavailable(
                f"status list unreachable: {type(exc).__name__}", code="status_list_unreachable"
            ) from None
        if status_code != 200:
            raise StatusUnavailable(
                f"status list unreachable: HTTP {status_code}", code="status_list_unreachable"
            )
        token = body.decode("ascii", errors="replace")
        verified = check.verify_status_list_token(token, self._keys(issuer), uri=uri)
        ttl = min(verified.ttl or self._max_ttl, self._max_ttl)
        fresh_until = clock.epoch() + ttl
        if verified.exp is not None:
            fresh_until = min(fresh_until, verified.exp)
        return _Entry(verified.status_list, fresh_until)

    def _get(self, uri: str) -> tuple[int, bytes]:
        """Status and body, the body read as it is decoded (a server may send it gzip'd)
        and refused once past the largest token we accept: capped decompression, so a
        small compressed body cannot expand into gigabytes here."""
        with self._client.stream("GET", uri, headers={"Accept": JWT_MEDIA_TYPE}) as response:
            if response.status_code != 200:
                return response.status_code, b""
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > check.MAX_TOKEN_BYTES:
                    raise StatusUnavailable(
                        "status list token is larger than allowed",
                        code="status_list_unreachable",
                    )
                chunks.append(chunk)
            return 200, b"".join(chunks)

    def _keys(self, issuer: str) -> Sequence[IssuerKey]:
        trusted = self._trust.issuers.get(issuer)
        if trusted is None:
            return []
        return [IssuerKey(k, trusted.allowed_algs, issuer) for k in trusted.keys.values()]


@dataclasses.dataclass(frozen=True, slots=True)
class CachedOnly:
    """A status checker answering from a :class:`StatusListCache` without fetching."""

    cache: StatusListCache

    def check(self, issuer: str, reference: StatusReference) -> Status:
        return self.cache.check_cached(issuer, reference)


def _status_at(status_list: StatusList, idx: int) -> Status:
    if idx >= status_list.size:
        raise InvalidToken(
            f"status index {idx} is outside the list", code="status_index_out_of_range"
        )
    return require_valid(status_list[idx])


def _require_same_origin(issuer: str, uri: str) -> None:
    a, b = urlsplit(issuer), urlsplit(uri)
    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        raise InvalidToken("status list is not hosted by the issuer", code="status_uri_untrusted")
