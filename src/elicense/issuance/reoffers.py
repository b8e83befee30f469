"""Re-offers: a credential revoked because a person field changed is offered again.

When the life-event processor revokes credentials because of a ``person.updated`` event
(a new name), :func:`record` writes, **in the same transaction** as the revocation, one
pending re-offer per (person, credential type, source record) with the thumbprints of
the holder keys the revoked credentials were bound to. Replaying the event records
nothing new (the unique key is event, person, type and record; and revoked credentials
are not revoked again). A divorce or a cancelled record revokes without re-offering.

:func:`claim` serves a holder authenticated (:mod:`elicense.issuance.holder_auth`) with
one of those keys: for each type it may claim, a fresh pre-authorized offer (single use,
:data:`~elicense.issuance.service.OFFER_TTL`, no transaction code: it goes straight to
the wallet that proved the key) for the person's current record; the re-offers of that
person and type become ``offered``. Asking again while that offer is unredeemed returns
the same offer (a lost response is not a lost credential); once redeemed, nothing. A
re-offer is cancelled when the person is no longer entitled to that record (divorced
meanwhile, or re-married: another record), and lapses when the revoked credentials
would have expired. The trust decision is documented in ``docs/issuance.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import CredentialRequestDenied
from elicense.issuance import claims as claim_source
from elicense.issuance import service
from elicense.issuance.holder_auth import AuthenticatedHolder
from elicense.issuance.models import IssuedCredential, Offer
from elicense.issuance.reoffer_models import ReOffer

#: Life events whose revocations are re-offered (a changed person field).
REOFFER_EVENTS = frozenset({"person.updated"})
PENDING, OFFERED, REDEEMED, CANCELLED = "pending", "offered", "redeemed", "cancelled"
#: The sealing context of pre-authorized codes, shared with ``service.create_offer`` so
#: that ``service.offer_by_reference`` serves re-offers like any other offer.
_CODE_CONTEXT = service._CODE_CONTEXT


@dataclasses.dataclass(frozen=True, slots=True)
class ReOffered:
    """An offer for the updated credential and the holder keys of what it replaces."""

    configuration_id: str
    offer_id: str
    credential_offer: dict[str, Any] = dataclasses.field(repr=False)
    credential_offer_uri: str
    deep_link: str
    expires_at: dt.datetime
    replaces: tuple[str, ...]


# --- recording (the life-event processor) ----------------------------------------------


def record(session: Session, event_id: int, revoked: Sequence[IssuedCredential]) -> int:
    """One pending re-offer per (person, type, record) among ``revoked`` (in the caller's
    transaction, the one that revoked them); how many were new."""
    groups: dict[tuple[str, str, str], list[IssuedCredential]] = {}
    for row in revoked:
        groups.setdefault((row.person_id, row.configuration_id, row.source_id), []).append(row)
    now = clock.now()
    statement = _INSERT_IGNORE[session.get_bind().dialect.name]
    added = 0
    for (person_id, configuration_id, source_id), rows in groups.items():
        values = {
            "id": ids.new_id("rof"),
            "event_id": event_id,
            "person_id": person_id,
            "configuration_id": configuration_id,
            "source_id": source_id,
            "holder_jkts": sorted({r.holder_jkt for r in rows}),
            "state": PENDING,
            "offer_id": None,
            "created_at": now,
            "expires_at": max(r.expires_at for r in rows),
            "state_changed_at": now,
        }
        added += session.execute(statement, values).first() is not None
    return added


_INSERT_IGNORE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(ReOffer)
    .on_conflict_do_nothing()
    .returning(ReOffer.id)
    for dialect in (postgresql, sqlite)
}


# --- claiming (the holder-authenticated endpoint) ----------------------------------------


def claim(
    session: Session, ctx: service.IssuerContext, holder: AuthenticatedHolder
) -> list[ReOffered]:
    """The offers ``holder`` may claim now (none: an empty list)."""
    now = clock.now()
    live = _live(session, holder.person_id, now)
    types = dict.fromkeys(r.configuration_id for r in live if holder.jkt in r.holder_jkts)
    offers = []
    for configuration_id in types:
        rows = [r for r in live if r.configuration_id == configuration_id]
        offered = _offer(session, ctx, holder, rows, now)
        if offered is not None:
            offers.append(offered)
    return offers


def _live(session: Session, person_id: str, now: dt.datetime) -> list[ReOffer]:
    """The person's unexpired pending/offered re-offers, locked; those whose offer was
    redeemed meanwhile become ``redeemed`` and are left out."""
    query = (
        select(ReOffer)
        .where(
            ReOffer.person_id == person_id,
            ReOffer.state.in_((PENDING, OFFERED)),
            ReOffer.expires_at > now,
        )
        .order_by(ReOffer.created_at, ReOffer.id)
        .with_for_update()
    )
    live = []
    for row in session.scalars(query):
        offer = session.get(Offer, row.offer_id) if row.offer_id else None
        if offer is not None and offer.redeemed_at is not None:
            _set_state([row], REDEEMED, now)
        else:
            live.append(row)
    return live


def _offer(
    session: Session,
    ctx: service.IssuerContext,
    holder: AuthenticatedHolder,
    rows: list[ReOffer],
    now: dt.datetime,
) -> ReOffered | None:
    """The offer for one type: the outstanding one, else a new one (None: not entitled)."""
    credential_type = ctx.catalog.get(rows[0].configuration_id)
    try:
        source = claim_source.source_for(session, ctx.sealer, credential_type, holder.person_id)
    except CredentialRequestDenied:
        _set_state(rows, CANCELLED, now)
        return None
    _set_state([r for r in rows if r.source_id != source.source_id], CANCELLED, now)
    rows = [r for r in rows if r.source_id == source.source_id]
    if not any(holder.jkt in r.holder_jkts for r in rows):
        return None
    offer_id = _outstanding(session, rows, now) or _new_offer(session, ctx, rows[0], now)
    for row in rows:
        row.offer_id = offer_id
    _set_state(rows, OFFERED, now)
    return _reoffered(session, ctx, rows, offer_id)


def _outstanding(session: Session, rows: list[ReOffer], now: dt.datetime) -> str | None:
    """The id of an offer made for these re-offers that can still be redeemed."""
    for offer_id in dict.fromkeys(r.offer_id for r in rows if r.offer_id):
        offer = session.get(Offer, offer_id)
        if offer is not None and offer.redeemed_at is None and offer.expires_at > now:
            return offer_id
    return None


def _new_offer(
    session: Session, ctx: service.IssuerContext, reoffer: ReOffer, now: dt.datetime
) -> str:
    """An offer like ``service.create_offer`` makes, vouched for by the re-offer (its id
    stands where a verified identity's would) instead of a new identity check."""
    code = ids.secret_token()
    row = Offer(
        id=ids.new_id("off"),
        person_id=reoffer.person_id,
        configuration_ids=[reoffer.configuration_id],
        verified_identity_id=reoffer.id,
        code_hash=service.sha256_hex(code),
        code_sealed=ctx.sealer.seal_text(code, _CODE_CONTEXT),
        tx_code_hash=None,
        tx_code_failures=0,
        created_at=now,
        expires_at=now + service.OFFER_TTL,
        redeemed_at=None,
    )
    session.add(row)
    session.flush()
    return row.id


def _reoffered(
    session: Session, ctx: service.IssuerContext, rows: list[ReOffer], offer_id: str
) -> ReOffered:
    offer = session.get(Offer, offer_id)
    assert offer is not None
    uri = service.offer_uri(ctx.base_url, offer_id)
    return ReOffered(
        configuration_id=rows[0].configuration_id,
        offer_id=offer_id,
        credential_offer=service.offer_by_reference(session, ctx, offer_id),
        credential_offer_uri=uri,
        deep_link=service.deep_link(uri),
        expires_at=offer.expires_at,
        replaces=tuple(sorted({jkt for r in rows for jkt in r.holder_jkts})),
    )


def _set_state(rows: list[ReOffer], state: str, now: dt.datetime) -> None:
    for row in rows:
        if row.state != state:
            row.state, row.state_changed_at = state, now


def reoffers_for(session: Session, person_id: str) -> list[ReOffer]:
    """Every re-offer of ``person_id``, oldest first (for operators and tests)."""
    query = select(ReOffer).where(ReOffer.person_id == person_id)
    return list(session.scalars(query.order_by(ReOffer.created_at, ReOffer.id)))
