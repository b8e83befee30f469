"""Verification business rules: RP registry, OpenID4VP requests, responses, results.

The only code that touches the verification tables. Transactions are the caller's;
:func:`handle_response` needs none of its own around the checks: the API loads the
request in one short transaction, verifies outside any transaction (the status list
may be fetched over HTTP, from this very service), then records the outcome in a
second one whose conditional update makes the nonce single-use.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Insert, Select, Text, bindparam, cast, insert, select, update
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.crypto import _json, jwe, jws
from elicense.crypto.jwk import public_jwk
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.x509 import to_x5c
from elicense.errors import (
    Conflict,
    ELicenseError,
    Gone,
    InvalidRequest,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from elicense.storage import aio, prepared
from elicense.verification import dcql, policy, request_object, rp_ca, uscc
from elicense.verification.checks import (
    Expectation,
    VerifiedPresentation,
    Verifier,
    verify_presentation,
)
from elicense.verification.context import VerificationContext
from elicense.verification.models import (
    RelyingParty,
    VerificationHistory,
    VerificationRequest,
    VerificationRequestObject,
    VerificationWebhookDelivery,
)
from elicense.verification.policy import Grant

PENDING, VERIFIED, REJECTED = "pending", "verified", "rejected"
REGISTRATION_TYP = "rp-registration+jwt"
WEBHOOK_TYP = "verification-result+jwt"
_SEAL_KEY = "verification.access_key"
_SEAL_ENC = "verification.response_key"
_SEAL_RESULT = "verification.result"
_SEAL_WEBHOOK = "verification.webhook"
#: Webhook delivery states (see :mod:`elicense.verification.webhooks`).
DELIVERY_PENDING, DELIVERED, DELIVERY_FAILED, DELIVERY_EXPIRED = (
    "pending",
    "delivered",
    "failed",
    "expired",
)


# --- relying parties ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RpInfo:
    id: str
    name: str
    sector: str
    region: str
    client_id: str
    grants: tuple[Grant, ...]
    webhook_url: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Registered:
    """A new RP: its API credentials (the secret is shown once) and access certificate."""

    rp: RpInfo
    client_secret: str
    certificate_pem: str


def register_rp(
    session: Session,
    ctx: VerificationContext,
    *,
    name: str,
    uscc_code: str,
    sector: str,
    region: str,
    client_host: str,
    grants: Sequence[Grant],
    webhook_url: str | None = None,
    client_id_prefix: str = rp_ca.PREFIX_SAN_DNS,
) -> Registered:
    """Register an RP; refused if a grant exceeds the catalogue policy for its sector."""
    uscc.validate(uscc_code)
    policy.check_sector(sector)
    if not policy.region_covers(region, region) or not region.isdigit():
        raise ValidationFailed("region is a 6-digit division code", code="rp_region_invalid")
    if not grants:
        raise ValidationFailed("an RP needs at least one grant", code="grant_invalid")
    for grant in grants:
        policy.check_grant(ctx.catalog, sector, grant)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = rp_ca.issue_access_certificate(ctx.ca, key.public_key(), client_host, name)
    secret = ids.secret_token()
    row = RelyingParty(
        id=ids.new_id("rp"),
        name=name,
        uscc=uscc_code,
        sector=sector,
        region=region,
        client_host=client_host,
        client_id=rp_ca.client_id_for(cert, client_host, client_id_prefix),
        grants=[g.to_json() for g in grants],
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        access_key_sealed=ctx.sealer.seal(_pem(key), _SEAL_KEY),
        secret_sha256=_sha256(secret),
        webhook_url=webhook_url,
        created_at=clock.now(),
        disabled_at=None,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("an RP with this code or host exists", code="rp_exists") from None
    return Registered(_info(row), secret, row.certificate_pem)


def authenticate(session: Session, rp_id: str, secret: str) -> RpInfo:
    """The RP whose API credentials these are; ``Unauthorized`` otherwise."""
    row = session.get(RelyingParty, rp_id)
    expected = row.secret_sha256 if row is not None else _sha256("")
    if row is None or not hmac.compare_digest(expected, _sha256(secret)) or row.disabled_at:
        raise Unauthorized("unknown RP or wrong secret", code="rp_unauthorized")
    return _info(row)


def registration_jwt(session: Session, ctx: VerificationContext, client_id: str) -> str:
    """The RP's registration, signed by the RP CA (what wallets check requests against)."""
    row = session.scalar(select(RelyingParty).where(RelyingParty.client_id == client_id))
    if row is None or row.disabled_at is not None:
        raise NotFound("no such relying party", code="rp_not_found")
    return _registration(ctx, row)


def _registration(ctx: VerificationContext, row: RelyingParty) -> str:
    now = clock.epoch()
    payload = {
        "iss": ctx.url(""),
        "sub": row.client_id,
        "iat": now,
        "exp": now + 86_400,
        "name": row.name,
        "uscc": row.uscc,
        "sector": row.sector,
        "region": row.region,
        "grants": row.grants,
    }
    signer = ctx.ca.signer()
    header = {"typ": REGISTRATION_TYP, "x5c": list(signer.x5c)}
    return jws.sign_compact(header, _json.dumps(payload), signer)


def _info(row: RelyingParty) -> RpInfo:
    return RpInfo(
        id=row.id,
        name=row.name,
        sector=row.sector,
        region=row.region,
        client_id=row.client_id,
        grants=tuple(Grant.from_json(g) for g in row.grants),
        webhook_url=row.webhook_url,
    )


# --- requests ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedRequest:
    id: str
    client_id: str
    request_uri: str
    deep_link: str
    qr_uri: str
    expires_at: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def create_request(
    session: Session,
    ctx: VerificationContext,
    rp: RpInfo,
    *,
    preset: str | None = None,
    dcql_query: object = None,
    purpose: str | None = None,
    response_mode: str = "direct_post",
) -> CreatedRequest:
    """A signed request object for ``rp``; refused beyond its registration."""
    query, purpose = _query(ctx, preset, dcql_query, purpose)
    if response_mode not in request_object.RESPONSE_MODES:
        raise InvalidRequest("unsupported response_mode", code="response_mode_unsupported")
    policy.check_request(ctx.catalog, rp.sector, rp.grants, purpose, query)
    row = session.get(RelyingParty, rp.id)
    assert row is not None
    request_id, nonce, now = ids.new_id("vpr"), ids.secret_token(), clock.epoch()
    enc_key = ec.generate_private_key(ec.SECP256R1()) if response_mode.endswith(".jwt") else None
    payload = _payload(ctx, row, request_id, nonce, query, purpose, response_mode, enc_key, now)
    token = request_object.sign(payload, _access_signer(ctx, row))
    session.add(
        VerificationRequest(
            id=request_id,
            rp_id=rp.id,
            nonce=nonce,
            purpose=purpose,
            dcql_query=query.to_json(),
            response_mode=response_mode,
            decryption_key_sealed=ctx.sealer.seal(_pem(enc_key), _SEAL_ENC) if enc_key else None,
            state=PENDING,
            error_code=None,
            result_sealed=None,
            created_at=clock.now(),
            expires_at=clock.now() + dt.timedelta(seconds=ctx.request_ttl),
            completed_at=None,
            result_expires_at=None,
            fetched_at=None,
        )
    )
    session.add(VerificationRequestObject(request_id=request_id, request_object=token))
    session.flush()
    request_uri = ctx.url(f"/request-objects/{request_id}")
    link = urlencode({"client_id": rp.client_id, "request_uri": request_uri}, quote_via=quote)
    return CreatedRequest(
        id=request_id,
        client_id=rp.client_id,
        request_uri=request_uri,
        deep_link=f"openid4vp://?{link}",
        qr_uri=ctx.url(f"/requests/{request_id}/qr.png"),
        expires_at=now + ctx.request_ttl,
    )


def _query(
    ctx: VerificationContext, preset: str | None, query: object, purpose: str | None
) -> tuple[dcql.DcqlQuery, str]:
    if preset is not None:
        if query is not None:
            raise InvalidRequest("give a preset or a DCQL query, not both", code="request_invalid")
        found = ctx.presets.get(preset)
        if found is None:
            raise NotFound(f"no preset {preset!r}", code="preset_not_found")
        return found.query, purpose or found.purpose
    if query is None or not purpose:
        raise InvalidRequest("a DCQL query needs a purpose", code="request_invalid")
    return dcql.parse(query), purpose


def _payload(
    ctx: VerificationContext,
    row: RelyingParty,
    request_id: str,
    nonce: str,
    query: dcql.DcqlQuery,
    purpose: str,
    response_mode: str,
    enc_key: ec.EllipticCurvePrivateKey | None,
    now: int,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"vp_formats_supported": request_object.VP_FORMATS}
    if enc_key is not None:
        jwk = {**public_jwk(enc_key), "kid": request_id, "use": "enc", "alg": jwe.ALG}
        metadata["jwks"] = {"keys": [jwk]}
        metadata["encrypted_response_enc_values_supported"] = sorted(jwe.ENC_KEY_BYTES)
    return {
        "iss": row.client_id,
        "aud": request_object.SELF_ISSUED_AUD,
        "client_id": row.client_id,
        "response_type": "vp_token",
        "response_mode": response_mode,
        "response_uri": ctx.url(f"/responses/{request_id}"),
        "nonce": nonce,
        "state": request_id,
        "dcql_query": query.to_json(),
        "client_metadata": metadata,
        "verifier_info": [{"format": "jwt", "data": _registration(ctx, row)}],
        "purpose": purpose,
        "iat": now,
        "exp": now + ctx.request_ttl,
    }


def _access_signer(ctx: VerificationContext, row: RelyingParty) -> LocalSigner:
    key = serialization.load_pem_private_key(
        ctx.sealer.unseal(row.access_key_sealed, _SEAL_KEY), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
    return LocalSigner(key, x5c=to_x5c([cert, ctx.ca.certificate]))


def get_request_object(
    session: Session, ctx: VerificationContext, request_id: str, *, wallet_nonce: str | None = None
) -> str:
    """The signed request object (fetchable more than once until the request expires).
    With a ``wallet_nonce`` (``request_uri_method=post``) it is re-signed to include it."""
    row = session.get(VerificationRequest, request_id)
    if row is None:
        raise NotFound("no such request", code="request_not_found")
    if row.state != PENDING or clock.now() >= row.expires_at:
        raise Gone("the request is no longer open", code="request_expired")
    stored = session.get(VerificationRequestObject, request_id)
    assert stored is not None
    if wallet_nonce is None:
        return stored.request_object
    rp = session.get(RelyingParty, row.rp_id)
    assert rp is not None
    payload = jws.decode_compact(stored.request_object).payload
    claims = {**json.loads(payload), "wallet_nonce": wallet_nonce}
    return request_object.sign(claims, _access_signer(ctx, rp))


def request_state(session: Session, request_id: str) -> str:
    row = session.get(VerificationRequest, request_id)
    if row is None:
        raise NotFound("no such request", code="request_not_found")
    return row.state


# --- responses -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """A request waiting for its response, loaded for verification."""

    expectation: Expectation
    response_mode: str
    decryption_key: ec.EllipticCurvePrivateKey | None
    rp_id: str
    rp_name: str
    webhook_url: str | None


# The DCQL query and the grants come as their JSON text: parsed once per distinct text
# (:func:`_parsed_query`, :func:`_parsed_grants`), since most requests use a preset.
_PENDING_COLUMNS = (
    VerificationRequest.id,
    VerificationRequest.state,
    VerificationRequest.expires_at,
    VerificationRequest.nonce,
    VerificationRequest.purpose,
    cast(VerificationRequest.dcql_query, Text),
    VerificationRequest.response_mode,
    VerificationRequest.decryption_key_sealed,
    RelyingParty.id,
    RelyingParty.client_id,
    RelyingParty.sector,
    RelyingParty.region,
    cast(RelyingParty.grants, Text),
    RelyingParty.name,
    RelyingParty.webhook_url,
)


# Built once: the response path runs these for every presentation (statement
# construction costs more than the SQLite round trip).
_LOAD_PENDING = (
    select(*_PENDING_COLUMNS)
    .join(RelyingParty, RelyingParty.id == VerificationRequest.rp_id)
    .where(VerificationRequest.id == bindparam("rid"))
)
_RECORD = (
    update(VerificationRequest)
    .where(VerificationRequest.id == bindparam("rid"), VerificationRequest.state == PENDING)
    .values(
        state=bindparam("new_state"),
        error_code=bindparam("code"),
        result_sealed=bindparam("sealed"),
        completed_at=bindparam("now"),
        result_expires_at=bindparam("until"),
    )
)
_INSERT_HISTORY = insert(VerificationHistory)
_HISTORY_COLUMNS = tuple(c.key for c in VerificationHistory.__table__.columns)
_INSERT_DELIVERY = insert(VerificationWebhookDelivery)
_DELIVERY_COLUMNS = tuple(c.key for c in VerificationWebhookDelivery.__table__.columns)


def _claim(with_delivery: bool) -> Insert:
    """:data:`_RECORD`, the history row and (``with_delivery``) the webhook delivery as
    one statement: the update claims the request in a CTE and each insert selects from
    the one before, so nothing is written unless the claim succeeds and the statement
    returns one row exactly when it did. The rows' values are the parameters of
    :func:`_claim_parameters` (``h_``/``d_`` + column)."""
    claimed = _RECORD.returning(VerificationRequest.id).cte("claimed")
    history = _select_from(claimed, VerificationHistory.__table__, "h_")
    inserted = insert(VerificationHistory).from_select(list(_HISTORY_COLUMNS), history)
    if not with_delivery:
        return inserted.returning(VerificationHistory.request_id)
    recorded = inserted.returning(VerificationHistory.request_id).cte("recorded")
    delivery = _select_from(recorded, VerificationWebhookDelivery.__table__, "d_")
    return (
        insert(VerificationWebhookDelivery)
        .from_select(list(_DELIVERY_COLUMNS), delivery)
        .returning(VerificationWebhookDelivery.request_id)
    )


def _select_from(source: Any, table: Any, prefix: str) -> Select[Any]:
    # typed parameters: the dialect casts each to its column's type
    return select(*(bindparam(prefix + c.key, type_=c.type) for c in table.columns)).select_from(
        source
    )


def _claim_parameters(rows: _OutcomeRows) -> dict[str, Any]:
    values = dict(rows.update)
    values.update({"h_" + k: v for k, v in rows.history.items()})
    if rows.delivery is not None:
        values.update({"d_" + k: v for k, v in rows.delivery.items()})
    return values


@dataclasses.dataclass(frozen=True, slots=True)
class _Statements:
    load: prepared.Prepared
    record: prepared.Prepared
    history: prepared.Prepared
    delivery: prepared.Prepared
    # Where one statement can update and insert (prepared.writes_in_one_statement): the
    # whole record as one statement, one round trip (see record_many_on), without and
    # with delivery.
    claim: tuple[prepared.Prepared, prepared.Prepared] | None


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    """The response path's statements, compiled once per dialect."""
    claim = None
    if prepared.writes_in_one_statement(dialect):
        claim = (
            prepared.Prepared.compile(_claim(False), dialect),
            prepared.Prepared.compile(_claim(True), dialect),
        )
    return _Statements(
        load=prepared.Prepared.compile(_LOAD_PENDING, dialect),
        record=prepared.Prepared.compile(_RECORD, dialect),
        history=prepared.Prepared.compile(_INSERT_HISTORY, dialect, _HISTORY_COLUMNS),
        delivery=prepared.Prepared.compile(_INSERT_DELIVERY, dialect, _DELIVERY_COLUMNS),
        claim=claim,
    )


def _core(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def load_pending(
    session: Session | Connection, ctx: VerificationContext, request_id: str
) -> Pending:
    """The open request ``request_id`` with its RP (one query, no ORM identity map).
    Takes a Core ``Connection`` too."""
    row = _core(session).execute(_LOAD_PENDING, {"rid": request_id}).one_or_none()
    return _pending(ctx, None if row is None else tuple(row))


def load_pending_prepared(engine: Engine, ctx: VerificationContext, request_id: str) -> Pending:
    """:func:`load_pending` as one prepared statement on a driver connection, outside
    any transaction (the response path; see :mod:`elicense.storage.prepared`)."""
    with prepared.driver_connection(engine) as connection:
        return load_pending_on(connection, ctx, request_id)


def load_pending_on(
    connection: prepared.DriverConnection, ctx: VerificationContext, request_id: str
) -> Pending:
    """:func:`load_pending_prepared` on a connection the caller holds."""
    with connection.transaction(write=False) as cursor:
        row = _statements(connection.dialect).load.one_or_none(cursor, {"rid": request_id})
    return _pending(ctx, row)


def _pending(ctx: VerificationContext, row: tuple[Any, ...] | None) -> Pending:
    if row is None:
        raise NotFound("no such request", code="request_not_found")
    (rid, state, expires_at, nonce, purpose, query, mode, sealed) = row[:8]
    (rp_id, client_id, sector, region, grants, name, webhook) = row[8:]
    if state != PENDING:
        raise _answered()
    if clock.now() >= expires_at:
        raise Gone("the request has expired", code="request_expired")
    key = None
    if sealed is not None:
        loaded = serialization.load_pem_private_key(
            ctx.sealer.unseal(sealed, _SEAL_ENC), password=None
        )
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        key = loaded
    expectation = Expectation(
        request_id=rid,
        client_id=client_id,
        nonce=nonce,
        purpose=purpose,
        sector=sector,
        region=region,
        grants=_parsed_grants(grants),
        query=_parsed_query(query),
    )
    return Pending(expectation, mode, key, rp_id, name, webhook)


@functools.lru_cache(maxsize=256)
def _parsed_query(text: str) -> dcql.DcqlQuery:
    """A stored DCQL query (immutable once parsed), by its JSON text."""
    return dcql.parse(json.loads(text))


@functools.lru_cache(maxsize=256)
def _parsed_grants(text: str) -> tuple[Grant, ...]:
    """An RP's stored grants (immutable once parsed), by their JSON text."""
    return tuple(Grant.from_json(g) for g in json.loads(text))


def decode_response(pending: Pending, form: Mapping[str, str]) -> object:
    """The ``vp_token`` of a ``direct_post`` / ``direct_post.jwt`` form."""
    if pending.response_mode == "direct_post.jwt":
        encrypted = form.get("response")
        if pending.decryption_key is None or not encrypted:
            raise InvalidRequest("an encrypted response is required", code="response_not_encrypted")
        header, plaintext = jwe.decrypt(encrypted, pending.decryption_key)
        if header.get("kid") not in (None, pending.expectation.request_id):
            raise InvalidRequest("response encrypted to another key", code="response_wrong_key")
        body = _json.loads_object(plaintext, what="response")
    else:
        if "response" in form:
            raise InvalidRequest("unexpected encrypted response", code="response_mode_mismatch")
        body = dict(form)
        raw = form.get("vp_token")
        if not isinstance(raw, str):
            raise InvalidRequest("vp_token is missing", code="vp_token_malformed")
        body["vp_token"] = _json.loads(raw.encode("utf-8"), what="vp_token")
    if body.get("state") != pending.expectation.request_id:
        raise InvalidRequest("state does not match", code="response_state_mismatch")
    return body.get("vp_token")


def verify(
    ctx: VerificationContext,
    pending: Pending,
    form: Mapping[str, str],
    verifier: Verifier | None = None,
) -> VerifiedPresentation:
    """Decode and check a response (no transaction needed); with ``ctx.verifier`` unless
    another ``verifier`` is given."""
    try:
        vp_token = decode_response(pending, form)
    except ELicenseError as exc:
        exc.extra["checks"] = [{"name": "response", "ok": False, "code": exc.instance_code}]
        raise
    return verify_presentation(vp_token, pending.expectation, verifier or ctx.verifier)


def record(
    session: Session | Connection,
    ctx: VerificationContext,
    pending: Pending,
    outcome: VerifiedPresentation | ELicenseError,
) -> dict[str, Any]:
    """Store the outcome once (single-use nonce) with its history row and, for an RP with
    a webhook, its delivery; the result JSON."""
    rows = _outcome_rows(ctx, pending, outcome)
    connection = _core(session)
    if connection.execute(_RECORD, rows.update).rowcount != 1:
        raise _answered()
    connection.execute(_INSERT_HISTORY, rows.history)
    if rows.delivery is not None:
        connection.execute(_INSERT_DELIVERY, rows.delivery)
    return rows.result


def record_prepared(
    engine: Engine,
    ctx: VerificationContext,
    pending: Pending,
    outcome: VerifiedPresentation | ELicenseError,
) -> dict[str, Any]:
    """:func:`record` as two prepared statements in one driver transaction (the
    response path): the conditional update claims the request, the history row follows."""
    with prepared.driver_connection(engine) as connection:
        return record_on(connection, ctx, pending, outcome)


def record_on(
    connection: prepared.DriverConnection,
    ctx: VerificationContext,
    pending: Pending,
    outcome: VerifiedPresentation | ELicenseError,
    *,
    wait: bool = True,
) -> dict[str, Any]:
    """:func:`record_prepared` on a connection the caller holds; ``wait=False`` raises
    :class:`~elicense.storage.prepared.WriteLockBusy` (nothing written) rather than
    wait for SQLite's write lock."""
    (recorded,) = record_many_on(connection, ctx, [(pending, outcome)], wait=wait)
    if isinstance(recorded, Conflict):
        raise recorded
    return recorded


def record_many(
    engine: Engine,
    ctx: VerificationContext,
    outcomes: Sequence[tuple[Pending, VerifiedPresentation | ELicenseError]],
) -> list[dict[str, Any] | Conflict]:
    """:func:`record_many_on` on a connection of its own (waits for the write lock)."""
    with prepared.driver_connection(engine) as connection:
        return record_many_on(connection, ctx, outcomes)


def record_many_on(
    connection: prepared.DriverConnection,
    ctx: VerificationContext,
    outcomes: Sequence[tuple[Pending, VerifiedPresentation | ELicenseError]],
    *,
    wait: bool = True,
) -> list[dict[str, Any] | Conflict]:
    """Several outcomes in one write transaction (one commit): for each, in order, the
    stored result, or :class:`Conflict` if its request was already answered (by another
    response, possibly an earlier one in ``outcomes``; nothing is written for it). A
    database error rolls back every one of them. Where one statement can claim and
    record (PostgreSQL), each outcome is that one statement instead, atomic on its own,
    and a database error leaves the outcomes before it recorded."""
    all_rows = [_outcome_rows(ctx, pending, outcome) for pending, outcome in outcomes]
    statements = _statements(connection.dialect)
    recorded: list[dict[str, Any] | Conflict] = []
    if statements.claim is not None:
        for rows in all_rows:
            claim = statements.claim[rows.delivery is not None]
            with connection.statement() as cursor:
                claimed = claim.execute(cursor, _claim_parameters(rows)).rowcount == 1
            recorded.append(rows.result if claimed else _answered())
        return recorded
    with connection.transaction(write=True, wait=wait) as cursor:
        for rows in all_rows:
            if statements.record.execute(cursor, rows.update).rowcount != 1:
                recorded.append(_answered())
                continue
            statements.history.execute(cursor, rows.history)
            if rows.delivery is not None:
                statements.delivery.execute(cursor, rows.delivery)
            recorded.append(rows.result)
    return recorded


async def load_pending_async(
    connections: aio.AsyncConnections, ctx: VerificationContext, request_id: str
) -> Pending:
    """:func:`load_pending_on` on one of the running loop's asynchronous connections
    (PostgreSQL; see :mod:`elicense.storage.aio`), held for the statement only."""
    load = _statements(connections.dialect).load
    async with connections.connection() as conn, conn.cursor() as cursor:
        row = await load.one_or_none_async(cursor, {"rid": request_id})
    return _pending(ctx, row)


async def record_async(
    connections: aio.AsyncConnections,
    ctx: VerificationContext,
    pending: Pending,
    outcome: VerifiedPresentation | ELicenseError,
) -> dict[str, Any]:
    """:func:`record_on` on an asynchronous connection: the one claiming statement of
    :func:`record_many_on` (claim, history row, delivery), atomic on its own; raises
    :class:`Conflict` if the request was already answered (nothing is written)."""
    rows = _outcome_rows(ctx, pending, outcome)
    claims = _statements(connections.dialect).claim
    if claims is None:  # aio.supported() engines are PostgreSQL, which has it
        raise TypeError("no one-statement record on this database")
    claim = claims[rows.delivery is not None]
    async with connections.connection() as conn, conn.cursor() as cursor:
        claimed = (await claim.execute_async(cursor, _claim_parameters(rows))).rowcount == 1
    if not claimed:
        raise _answered()
    return rows.result


def _answered() -> Conflict:
    return Conflict("the request was already answered", code="request_already_answered")


@dataclasses.dataclass(frozen=True, slots=True)
class _OutcomeRows:
    """What recording an outcome writes: the parameters of :data:`_RECORD`, the history
    row and, for an RP with a webhook, the delivery row; and the result JSON."""

    result: dict[str, Any]
    update: dict[str, Any]
    history: dict[str, Any]
    delivery: dict[str, Any] | None


def _outcome_rows(
    ctx: VerificationContext, pending: Pending, outcome: VerifiedPresentation | ELicenseError
) -> _OutcomeRows:
    expect = pending.expectation
    now = clock.now()
    if isinstance(outcome, VerifiedPresentation):
        result, state, code = outcome.to_json(), VERIFIED, None
    else:
        code = outcome.instance_code
        result = {
            "request_id": expect.request_id,
            "outcome": REJECTED,
            "error": {"code": code, "message": outcome.message},
            "checks": outcome.extra.get("checks", []),
        }
        state = REJECTED
    encoded = _json.dumps(result)
    until = now + dt.timedelta(seconds=ctx.result_retention)
    update_params = {
        "rid": expect.request_id,
        "new_state": state,
        "code": code,
        "sealed": ctx.sealer.seal(encoded, _SEAL_RESULT),
        "now": now,
        "until": until,
    }
    delivery = None
    if pending.webhook_url:
        delivery = {
            "id": ids.new_id("whd"),
            "request_id": expect.request_id,
            "rp_id": pending.rp_id,
            "url": pending.webhook_url,
            "body_sealed": ctx.sealer.seal(encoded, _SEAL_WEBHOOK),
            "state": DELIVERY_PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": until,  # given up with the result's retention
            "last_error": None,
            "created_at": now,
            "finished_at": None,
        }
    history = _history(pending, outcome, state, code, now)
    return _OutcomeRows(result, update_params, history, delivery)


def _history(
    pending: Pending,
    outcome: VerifiedPresentation | ELicenseError,
    state: str,
    code: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    expect = pending.expectation
    if isinstance(outcome, VerifiedPresentation):
        types = [c.credential_type for c in outcome.credentials]
        names = sorted(
            {f"{c.credential_type}.{n}" for c in outcome.credentials for n in c.claim_names}
        )
        holder = next((c.holder_thumbprint for c in outcome.credentials), None)
    else:
        types, names, holder = [], [], None
    return dict(
        id=ids.new_id("vh"),
        request_id=expect.request_id,
        rp_id=pending.rp_id,
        rp_name=pending.rp_name,
        purpose=expect.purpose,
        credential_types=types,
        claim_names=names,
        outcome=state,
        error_code=code,
        holder_thumbprint=holder,
        created_at=now,
    )


# --- results --------------------------------------------------------------------------------


def fetch_result(
    session: Session, ctx: VerificationContext, rp: RpInfo, request_id: str
) -> dict[str, Any] | None:
    """The result, once: ``None`` while pending; afterwards :class:`Gone`."""
    row = session.get(VerificationRequest, request_id, with_for_update=True)
    if row is None or row.rp_id != rp.id:
        raise NotFound("no such request", code="request_not_found")
    if row.state == PENDING:
        if clock.now() >= row.expires_at:
            raise Gone("the request expired unanswered", code="request_expired")
        return None
    if row.fetched_at is not None:
        raise Gone("the result was already fetched", code="result_already_fetched")
    if row.result_sealed is None or (
        row.result_expires_at and clock.now() >= row.result_expires_at
    ):
        raise Gone("the result is past its retention", code="result_expired")
    result: dict[str, Any] = json.loads(ctx.sealer.unseal(row.result_sealed, _SEAL_RESULT))
    row.result_sealed, row.fetched_at = None, clock.now()
    return result


def purge_expired(session: Session) -> int:
    """Drop stored results (disclosed values) past their retention, the number dropped;
    history stays. Webhook deliveries still pending then are given up (``expired``),
    their copy of the result dropped too."""
    now = clock.now()
    changed = session.execute(
        update(VerificationRequest)
        .where(
            VerificationRequest.result_sealed.is_not(None),
            VerificationRequest.result_expires_at <= now,
        )
        .values(result_sealed=None)
    )
    session.execute(
        update(VerificationWebhookDelivery)
        .where(
            VerificationWebhookDelivery.state == DELIVERY_PENDING,
            VerificationWebhookDelivery.expires_at <= now,
        )
        .values(state=DELIVERY_EXPIRED, body_sealed=None, finished_at=now)
    )
    return int(getattr(changed, "rowcount", 0) or 0)


def history_for_holder(session: Session, holder_thumbprint: str) -> list[dict[str, Any]]:
    """The citizen's verification history (who, which claim names, when, outcome)."""
    rows = session.scalars(
        select(VerificationHistory)
        .where(VerificationHistory.holder_thumbprint == holder_thumbprint)
        .order_by(VerificationHistory.created_at.desc())
    )
    return [
        {
            "rp": r.rp_name,
            "purpose": r.purpose,
            "claims": list(r.claim_names),
            "outcome": r.outcome,
            "at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def webhook_body(
    ctx: VerificationContext, result: Mapping[str, Any], delivery_id: str, iat: int
) -> str:
    """The result as a JWT signed by the platform's webhook key, with ``jti`` (the
    delivery's id, the same in every attempt: the RP's idempotency key) and ``iat``."""
    claims = {**result, "jti": delivery_id, "iat": iat}
    return jws.sign_compact({"typ": WEBHOOK_TYP}, _json.dumps(claims), ctx.webhook_signer)


def webhook_result(ctx: VerificationContext, sealed: bytes) -> dict[str, Any]:
    """A delivery's copy of the result (see :func:`_outcome_rows`)."""
    result: dict[str, Any] = json.loads(ctx.sealer.unseal(sealed, _SEAL_WEBHOOK))
    return result


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
