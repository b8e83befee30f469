"""HTTP: ``POST /issuance/reoffers`` — the holder of a revoked credential asks for the
updated one (holder-authenticated; rules in :mod:`elicense.issuance.reoffers`).

Answer: ``{"offers": [{"credential_configuration_id", "offer_id", "credential_offer",
"credential_offer_uri", "deep_link", "expires_at", "replaces": [holder key thumbprints]}]}``
— an empty list when there is nothing to re-offer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from elicense.issuance import reoffers
from elicense.issuance.api import ContextDep
from elicense.issuance.holder_auth import AuthenticatedHolder, endpoint_url
from elicense.issuance.holder_auth_api import HolderAuthIn, holder_authenticated
from elicense.web.deps import RuntimeDep

REOFFERS_PATH = "/issuance/reoffers"
router = APIRouter(tags=["issuance"])


@router.post(REOFFERS_PATH, summary="Re-offers after a registry change (holder-authenticated)")
def reoffers_endpoint(body: HolderAuthIn, runtime: RuntimeDep, ctx: ContextDep) -> JSONResponse:
    def work(session: Session, holder: AuthenticatedHolder) -> dict[str, Any]:
        return {"offers": [_document(o) for o in reoffers.claim(session, ctx, holder)]}

    return holder_authenticated(
        runtime, endpoint_url(ctx.base_url, REOFFERS_PATH), body.holder_auth, work
    )


def _document(offer: reoffers.ReOffered) -> dict[str, Any]:
    return {
        "credential_configuration_id": offer.configuration_id,
        "offer_id": offer.offer_id,
        "credential_offer": offer.credential_offer,
        "credential_offer_uri": offer.credential_offer_uri,
        "deep_link": offer.deep_link,
        "expires_at": offer.expires_at.isoformat().replace("+00:00", "Z"),
        "replaces": list(offer.replaces),
    }
