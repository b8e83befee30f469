"""HTTP for holder-authenticated endpoints (the re-offer and history routers use it).

The wallet POSTs ``{"holder_auth": "<holder-auth+jwt>"}``; the JWT is checked before any
database work, then the nonce is used, the holder found and the endpoint's work done in
**one** transaction. A failed check is an OAuth-style error (``{"error":
"invalid_token", "error_description", "code": "holder_auth_…"}``, 401, ``WWW-Authenticate:
HolderAuth``), rendered here so that the scheme is not mistaken for DPoP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import InvalidHolderAuth
from elicense.issuance.api import NO_STORE, oauth_error_json
from elicense.issuance.holder_auth import (
    MAX_TOKEN_CHARS,
    AuthenticatedHolder,
    authenticate,
    verify_holder_proof,
)
from elicense.runtime import Runtime

Work = Callable[[Session, AuthenticatedHolder], dict[str, Any]]


class HolderAuthIn(BaseModel):
    holder_auth: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


def holder_authenticated(runtime: Runtime, audience: str, token: str, work: Work) -> JSONResponse:
    """Authenticate the holder for endpoint ``audience``, run ``work`` with it in one
    transaction and answer with its document (``no-store``), or with the error."""
    try:
        proof = verify_holder_proof(token, audience=audience, now=clock.epoch())
        with runtime.db.transaction() as session:
            document = work(session, authenticate(session, proof))
    except InvalidHolderAuth as exc:
        response = oauth_error_json(exc)
        response.headers["WWW-Authenticate"] = f'HolderAuth error="{exc.protocol_error}"'
        return response
    return JSONResponse(document, headers=NO_STORE)
