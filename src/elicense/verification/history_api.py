"""HTTP: ``POST /verification/history`` — the citizen's verification history.

Holder-authenticated (:mod:`elicense.issuance.holder_auth_api`): body ``{"holder_auth":
"<holder-auth+jwt>", "limit": 100}`` (``aud`` = this URL). The answer covers every holder
key bound to the authenticated person's credentials (and to no one else's):
``{"holder_keys": [thumbprints], "entries": [{"id", "at", "rp": {"id", "name",
"sector"}, "purpose", "credential_types", "claims", "outcome", "error_code"}]}``, newest
first; claim names only, never values.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session

from elicense.issuance.holder_auth import AuthenticatedHolder, endpoint_url, holder_keys
from elicense.issuance.holder_auth_api import HolderAuthIn, holder_authenticated
from elicense.verification import history
from elicense.verification.context import ROUTE_PREFIX
from elicense.web.deps import RuntimeDep

HISTORY_PATH = f"{ROUTE_PREFIX}/history"
router = APIRouter(tags=["verification"])


class HistoryIn(HolderAuthIn):
    limit: int = Field(history.DEFAULT_LIMIT, ge=1, le=history.MAX_LIMIT)


@router.post(HISTORY_PATH, summary="The citizen's verification history (holder-authenticated)")
def history_endpoint(body: HistoryIn, runtime: RuntimeDep) -> JSONResponse:
    def work(session: Session, holder: AuthenticatedHolder) -> dict[str, Any]:
        keys = holder_keys(session, holder.person_id)
        entries = history.entries_for_keys(session, keys, limit=body.limit)
        return {"holder_keys": list(keys), "entries": entries}

    audience = endpoint_url(runtime.settings.public_base_url, HISTORY_PATH)
    return holder_authenticated(runtime, audience, body.holder_auth, work)
