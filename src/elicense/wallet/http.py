"""The HTTP seam of the wallet: any ``httpx``-style client, safe retries, JSON replies.

The holder takes a client that has ``request(method, url, *, content, headers, timeout)``
— an ``httpx.Client`` in production, Starlette's ``TestClient`` (``httpx2``) in tests.
Network failures of either library become :class:`IssuerUnreachable`; OAuth-style error
bodies (``{"error": "invalid_proof", "error_description": ...}``) and problem+json
bodies become :class:`IssuerError` carrying the server's code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from elicense.wallet.errors import IssuerError, IssuerUnreachable

DEFAULT_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HttpClient(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = ...,
        headers: Mapping[str, str] | None = ...,
        timeout: Any = ...,
    ) -> Any: ...


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:  # pragma: no cover - httpx2 is optional
        pass
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()


def new_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A client with timeouts and no redirects (OpenID4VCI endpoints never redirect)."""
    return httpx.Client(timeout=timeout, follow_redirects=False)


def send(
    client: HttpClient,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    attempts: int = 1,
    backoff: float = 0.2,
) -> HttpResponse:
    """Send one request; on a network failure resend the *same* bytes up to ``attempts``
    times (only callers whose request is idempotent ask for more than one)."""
    for attempt in range(1, attempts + 1):
        try:
            response: HttpResponse = client.request(
                method, url, content=content, headers=dict(headers or {})
            )
            return response
        except TRANSPORT_ERRORS as exc:
            if attempt == attempts:
                raise IssuerUnreachable(
                    f"{method} {url} failed: {type(exc).__name__}", url=url
                ) from None
            time.sleep(backoff * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def json_object(response: HttpResponse, what: str) -> dict[str, Any]:
    """The JSON object body of a successful response; an error body raises."""
    if response.status_code >= 400:
        raise issuer_error(response, what)
    body = _parse(response, what)
    if body is None:
        raise IssuerError(f"{what}: the response is not a JSON object", code="invalid_response")
    return body


def issuer_error(response: HttpResponse, what: str) -> IssuerError:
    """The typed error for an error response (OAuth ``error`` or problem+json ``code``)."""
    body = _parse(response, what) or {}
    code = body.get("error") if isinstance(body.get("error"), str) else body.get("code")
    detail = body.get("error_description") or body.get("detail") or ""
    if not isinstance(code, str) or not code:
        code = f"http_{response.status_code}"
    message = f"{what}: {code}" + (f" ({detail})" if isinstance(detail, str) and detail else "")
    return IssuerError(message, code=code, http_status=response.status_code)


def _parse(response: HttpResponse, what: str) -> dict[str, Any] | None:
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise IssuerError(f"{what}: response too large", code="invalid_response")
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
