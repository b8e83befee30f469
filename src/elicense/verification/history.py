"""The citizen's verification history: who verified which claims, when, with what outcome.

Read from ``verification_history`` (written by the response path) for a set of holder key
thumbprints, with the relying party's sector from ``verification_rps``. Claim **names**
only (``marriage_license.holder.name``): the table never holds a value. A rejected
presentation is not tied to a holder key (its key binding did not verify), so a
citizen's history lists the verifications their keys took part in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense.verification.models import RelyingParty, VerificationHistory

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def entries_for_keys(
    session: Session, holder_keys: Sequence[str], *, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """The newest ``limit`` verifications presented with any of ``holder_keys``."""
    if not holder_keys:
        return []
    query = (
        select(VerificationHistory, RelyingParty.sector)
        .outerjoin(RelyingParty, RelyingParty.id == VerificationHistory.rp_id)
        .where(VerificationHistory.holder_thumbprint.in_(list(holder_keys)))
        .order_by(VerificationHistory.created_at.desc(), VerificationHistory.id)
        .limit(min(limit, MAX_LIMIT))
    )
    return [_entry(row, sector) for row, sector in session.execute(query)]


def _entry(row: VerificationHistory, sector: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.created_at.isoformat().replace("+00:00", "Z"),
        "rp": {"id": row.rp_id, "name": row.rp_name, "sector": sector},
        "purpose": row.purpose,
        "credential_types": list(row.credential_types),
        "claims": list(row.claim_names),
        "outcome": row.outcome,
        "error_code": row.error_code,
    }
