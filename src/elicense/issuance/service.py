"""The issuer's rules: offers, pre-authorized codes, tokens, nonces, credentials, notifications.

Every function takes the caller's transaction and keeps all protocol state in the
database, so any worker serves any step: an ORM session, or for the hot path (token,
nonce, credential) an :class:`~elicense.issuance.store.IssuanceTx` of compiled
statements. Secrets are stored as SHA-256 hashes. Single use is enforced with
conditional ``UPDATE``s (codes, nonces) or row locks (codes with a transaction code),
and replays of DPoP proofs with a primary key on the proof id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.catalog.model import Catalog, CredentialType
from elicense.errors import (
    CredentialRequestDenied,
    ELicenseError,
    InvalidAccessToken,
    InvalidCredentialRequest,
    InvalidDpopProof,
    InvalidGrant,
    InvalidNonce,
    InvalidNotificationId,
    InvalidNotificationRequest,
    InvalidProof,
    NotFound,
    UnknownCredentialConfiguration,
    UnsupportedGrantType,
    ValidationFailed,
)
from elicense.issuance import claims as claim_source
from elicense.issuance.formats import CredentialInput, format_for
from elicense.issuance.jwt_proofs import MAX_AGE_SECONDS, DpopProof, KeyProof, verify_key_proof
from elicense.issuance.models import AccessToken, DpopJti, IssuedCredential, Nonce, Offer
from elicense.issuance.store import CredentialRow, IssuanceTx, Redeemed
from elicense.proofing import service as proofing
from elicense.status.service import SignerSource
from elicense.storage.sealing import Sealer

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_TTL = dt.timedelta(minutes=10)
TOKEN_TTL = dt.timedelta(minutes=10)
NONCE_TTL = dt.timedelta(minutes=5)
TX_CODE_LENGTH = 6
MAX_TX_CODE_FAILURES = 5
BATCH_SIZE = 10
OFFER_PATH = "/issuance/offers"
_CODE_CONTEXT = "issuance.pre_authorized_code"
_CHINA = dt.timezone(dt.timedelta(hours=8))  # civil dates of the registry (clock.today)
NOTIFICATION_STATES = {
    "credential_accepted": "accepted",
    "credential_failure": "failed",
    "credential_deleted": "deleted",
}


@dataclasses.dataclass(frozen=True, slots=True)
class IssuerContext:
    """What issuing needs beyond the session: catalogue, keys, sealing and our URL."""

    catalog: Catalog
    signers: SignerSource
    sealer: Sealer
    base_url: str


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedOffer:
    offer_id: str
    credential_offer: dict[str, Any] = dataclasses.field(repr=False)
    credential_offer_uri: str
    deep_link: str
    qr_png_uri: str
    tx_code: str | None = dataclasses.field(repr=False)
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class GrantedToken:
    access_token: str = dataclasses.field(repr=False)
    expires_in: int


@dataclasses.dataclass(frozen=True, slots=True)
class TokenGrant:
    """An authenticated access token: whom it was issued for and what it may fetch."""

    token_hash: str
    person_id: str
    configuration_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedBatch:
    credentials: tuple[str, ...] = dataclasses.field(repr=False)
    notification_id: str
    credential_ids: tuple[str, ...]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- offers ------------------------------------------------------------------------------


def create_offer(
    session: Session,
    ctx: IssuerContext,
    *,
    verified_identity_id: str,
    configuration_ids: Sequence[str],
    with_tx_code: bool = False,
) -> CreatedOffer:
    """Consume a verified identity and offer the types the person is entitled to."""
    types = _offered_types(ctx.catalog, configuration_ids)
    identity = proofing.consume_verified_identity(session, verified_identity_id)
    for credential_type in types:
        claim_source.source_for(session, ctx.sealer, credential_type, identity.person_id)
    code = ids.secret_token()
    tx_code = "".join(secrets.choice("0123456789") for _ in range(TX_CODE_LENGTH))
    now = clock.now()
    row = Offer(
        id=ids.new_id("off"),
        person_id=identity.person_id,
        configuration_ids=[t.id for t in types],
        verified_identity_id=identity.id,
        code_hash=sha256_hex(code),
        code_sealed=ctx.sealer.seal_text(code, _CODE_CONTEXT),
        tx_code_hash=_tx_hash(code, tx_code) if with_tx_code else None,
        tx_code_failures=0,
        created_at=now,
        expires_at=now + OFFER_TTL,
        redeemed_at=None,
    )
    session.add(row)
    session.flush()
    uri = offer_uri(ctx.base_url, row.id)
    return CreatedOffer(
        offer_id=row.id,
        credential_offer=_offer_document(ctx.base_url, row, code),
        credential_offer_uri=uri,
        deep_link=deep_link(uri),
        qr_png_uri=f"{uri}/qr.png",
        tx_code=tx_code if with_tx_code else None,
        expires_at=row.expires_at,
    )


def _offered_types(catalog: Catalog, configuration_ids: Sequence[str]) -> list[CredentialType]:
    if not configuration_ids or len(set(configuration_ids)) != len(configuration_ids):
        raise ValidationFailed(
            "name one or more distinct credential configurations", code="offer_configurations"
        )
    unknown = [c for c in configuration_ids if c not in catalog]
    if unknown:
        raise UnknownCredentialConfiguration(f"unknown credential configuration {unknown[0]!r}")
    return [catalog.get(c) for c in configuration_ids]


def offer_uri(base_url: str, offer_id: str) -> str:
    return f"{base_url}{OFFER_PATH}/{offer_id}"


def deep_link(credential_offer_uri: str) -> str:
    """``openid-credential-offer://?credential_offer_uri=…`` (OpenID4VCI Section 4.1)."""
    return f"openid-credential-offer://?credential_offer_uri={quote(credential_offer_uri, safe='')}"


def offer_by_reference(session: Session, ctx: IssuerContext, offer_id: str) -> dict[str, Any]:
    """The Credential Offer behind ``credential_offer_uri`` while it can still be redeemed."""
    row = session.get(Offer, offer_id)
    if row is None or row.redeemed_at is not None or row.expires_at <= clock.now():
        raise NotFound("no such offer, or it was used or has expired", code="offer_not_found")
    assert row.code_sealed is not None
    return _offer_document(
        ctx.base_url, row, ctx.sealer.unseal_text(row.code_sealed, _CODE_CONTEXT)
    )


def _offer_document(base_url: str, row: Offer, code: str) -> dict[str, Any]:
    grant: dict[str, Any] = {"pre-authorized_code": code}
    if row.tx_code_hash is not None:
        grant["tx_code"] = {
            "input_mode": "numeric",
            "length": TX_CODE_LENGTH,
            "description": "请输入短信中的验证码 / Enter the code sent to you by SMS",
        }
    return {
        "credential_issuer": base_url,
        "credential_configuration_ids": list(row.configuration_ids),
        "grants": {PRE_AUTHORIZED_GRANT: grant},
    }


def _tx_hash(code: str, tx_code: str) -> str:
    return sha256_hex(f"{code}\x00{tx_code}")


# --- token endpoint ----------------------------------------------------------------------


def redeem_fast(
    tx: IssuanceTx, *, grant_type: str | None, code: str | None, dpop: DpopProof
) -> GrantedToken | None:
    """The common case in one transaction of three statements: a live, unredeemed offer
    without a transaction code is marked redeemed (atomically: the ``WHERE`` makes it
    single use), the DPoP proof id recorded and the token stored. ``None`` when that does
    not apply; the caller then takes :func:`redeem_pre_authorized_code` (which explains)."""
    if grant_type != PRE_AUTHORIZED_GRANT or not code:
        return None
    now = clock.now()
    if tx.token_in_one_statement:
        return _redeem_in_one_statement(tx, sha256_hex(code), dpop, now)
    redeemed = tx.redeem(sha256_hex(code), now)
    if redeemed is None:
        return None
    if not tx.record_jti(*_jti_row(dpop)):
        raise _dpop_replay()
    token, values = _token_row(*redeemed, dpop=dpop, now=now)
    tx.insert_token(values)
    return token


def _redeem_in_one_statement(
    tx: IssuanceTx, code_hash: str, dpop: DpopProof, now: dt.datetime
) -> GrantedToken | None:
    """:func:`redeem_fast`'s three statements as one (see :mod:`.store`)."""
    token, values = _new_token(dpop, now)  # the offer's fields come from the statement
    jti_hash, jti_expires_at = _jti_row(dpop)
    redeemed = tx.redeem_to_token(
        {
            "code_hash": code_hash,
            "now": now,
            "jti_hash": jti_hash,
            "jti_expires_at": jti_expires_at,
            "token_hash": values["token_hash"],
            "dpop_jkt": values["dpop_jkt"],
            "token_expires_at": values["expires_at"],
        }
    )
    if redeemed is Redeemed.REPLAY:
        raise _dpop_replay()
    return token if redeemed is Redeemed.ISSUED else None


def redeem_pre_authorized_code(
    session: Session,
    *,
    grant_type: str | None,
    code: str | None,
    tx_code: str | None,
    dpop: DpopProof,
) -> GrantedToken | InvalidGrant:
    """Exchange a pre-authorized code (once) for an access token bound to the DPoP key:
    the checking path, under a row lock (:func:`redeem_fast` is the common case).

    A wrong transaction code is *returned* (not raised) as :class:`InvalidGrant` so that
    the caller commits the failure count before answering with the error.
    """
    if grant_type != PRE_AUTHORIZED_GRANT:
        raise UnsupportedGrantType("only the pre-authorized code grant is supported")
    if not code:
        raise InvalidGrant("pre-authorized_code is missing", code="pre_authorized_code_missing")
    now = clock.now()
    query = select(Offer).where(Offer.code_hash == sha256_hex(code)).with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None or row.redeemed_at is not None:
        raise InvalidGrant("the pre-authorized code is unknown or was already used")
    if row.expires_at <= now:
        raise InvalidGrant(
            "the pre-authorized code has expired", code="pre_authorized_code_expired"
        )
    if row.tx_code_hash is not None and not _tx_code_ok(row, code, tx_code):
        return _tx_code_failed(row)
    record_dpop_jti(session, dpop)
    row.redeemed_at, row.code_sealed = now, None
    session.flush()
    return _grant_token(
        session, row.id, row.person_id, list(row.configuration_ids), dpop=dpop, now=now
    )


def _grant_token(
    session: Session,
    offer_id: str,
    person_id: str,
    configuration_ids: list[str],
    *,
    dpop: DpopProof,
    now: dt.datetime,
) -> GrantedToken:
    granted, values = _token_row(offer_id, person_id, configuration_ids, dpop=dpop, now=now)
    session.execute(insert(AccessToken), values)
    return granted


def _token_row(
    offer_id: str,
    person_id: str,
    configuration_ids: list[str],
    *,
    dpop: DpopProof,
    now: dt.datetime,
) -> tuple[GrantedToken, dict[str, Any]]:
    token, values = _new_token(dpop, now)
    return token, values | {
        "offer_id": offer_id,
        "person_id": person_id,
        "configuration_ids": configuration_ids,
    }


def _new_token(dpop: DpopProof, now: dt.datetime) -> tuple[GrantedToken, dict[str, Any]]:
    """A fresh access token and its row's own fields (the offer's fields come apart)."""
    token = ids.secret_token()
    values = {
        "token_hash": sha256_hex(token),
        "dpop_jkt": dpop.jkt,
        "created_at": now,
        "expires_at": now + TOKEN_TTL,
    }
    return GrantedToken(access_token=token, expires_in=int(TOKEN_TTL.total_seconds())), values


def _tx_code_ok(row: Offer, code: str, tx_code: str | None) -> bool:
    if tx_code is None or row.tx_code_hash is None:
        return False
    return secrets.compare_digest(row.tx_code_hash, _tx_hash(code, tx_code))


def _tx_code_failed(row: Offer) -> InvalidGrant:
    """Count a wrong transaction code (the offer is burnt after a few); the error to send."""
    row.tx_code_failures += 1
    if row.tx_code_failures >= MAX_TX_CODE_FAILURES:
        row.redeemed_at, row.code_sealed = clock.now(), None
    return InvalidGrant("the transaction code is wrong or missing", code="tx_code_invalid")


# --- DPoP, nonces, tokens -------------------------------------------------------------------


def record_dpop_jti(session: Session, proof: DpopProof) -> None:
    """Refuse a DPoP proof whose ``jti`` (per key) was seen before; remember it otherwise."""
    jti_hash, expires = _jti_row(proof)
    if not _insert_ignore(session, DpopJti, {"jti_hash": jti_hash, "expires_at": expires}):
        raise _dpop_replay()


def _jti_row(proof: DpopProof) -> tuple[str, dt.datetime]:
    expires = dt.datetime.fromtimestamp(proof.iat + 2 * MAX_AGE_SECONDS, tz=dt.UTC)
    return sha256_hex(f"{proof.jkt}\x00{proof.jti}"), expires


def _dpop_replay() -> InvalidDpopProof:
    return InvalidDpopProof("the DPoP proof was already used (jti replay)", code="dpop_replay")


def new_nonce(tx: IssuanceTx) -> str:
    """A fresh single-use ``c_nonce``."""
    nonce = ids.secret_token()
    now = clock.now()
    values = {"nonce_hash": sha256_hex(nonce), "created_at": now, "expires_at": now + NONCE_TTL}
    tx.insert_nonce(values | {"used_at": None})
    return nonce


def consume_nonce(session: Session, nonce: str) -> None:
    """Use ``nonce`` once; :class:`InvalidNonce` when unknown, used or expired."""
    now = clock.now()
    result = session.execute(
        update(Nonce)
        .where(
            Nonce.nonce_hash == sha256_hex(nonce), Nonce.used_at.is_(None), Nonce.expires_at > now
        )
        .values(used_at=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise _nonce_refused()


def _use_nonce(tx: IssuanceTx, nonce: str) -> None:
    """:func:`consume_nonce` on the hot path."""
    if not tx.consume_nonce(sha256_hex(nonce), clock.now()):
        raise _nonce_refused()


def _nonce_refused() -> InvalidNonce:
    return InvalidNonce("the c_nonce is unknown, used or expired; fetch a new one")


def authenticate(session: Session, access_token: str, dpop: DpopProof) -> TokenGrant:
    """The grant behind a DPoP-bound ``access_token`` presented with proof ``dpop``."""
    token_hash = sha256_hex(access_token)
    row = session.execute(_TOKEN, {"token_hash": token_hash}).first()
    found = None if row is None else (row.person_id, row.configuration_ids, row.dpop_jkt)
    grant = _grant(token_hash, found, None if row is None else row.expires_at, dpop)
    record_dpop_jti(session, dpop)
    return grant


def authenticate_tx(tx: IssuanceTx, access_token: str, dpop: DpopProof) -> TokenGrant:
    """:func:`authenticate` on the hot path."""
    token_hash = sha256_hex(access_token)
    row = tx.token(token_hash)
    grant = _grant(
        token_hash, None if row is None else row[:3], None if row is None else row[3], dpop
    )
    if not tx.record_jti(*_jti_row(dpop)):
        raise _dpop_replay()
    return grant


def _grant(
    token_hash: str,
    row: tuple[str, list[str], str] | None,
    expires_at: dt.datetime | None,
    dpop: DpopProof,
) -> TokenGrant:
    if row is None or expires_at is None or expires_at <= clock.now():
        raise InvalidAccessToken("the access token is unknown or has expired")
    person_id, configuration_ids, dpop_jkt = row
    if not secrets.compare_digest(dpop_jkt, dpop.jkt):
        raise InvalidAccessToken(
            "the DPoP proof is not signed by the token's key", code="dpop_key_mismatch"
        )
    return TokenGrant(token_hash, person_id, tuple(configuration_ids))


_TOKEN = select(
    AccessToken.person_id,
    AccessToken.configuration_ids,
    AccessToken.dpop_jkt,
    AccessToken.expires_at,
).where(AccessToken.token_hash == bindparam("token_hash"))


# --- credential endpoint -------------------------------------------------------------------


def request_hash(body: Mapping[str, Any]) -> str:
    """A stable hash of a credential request body (for idempotent retries)."""
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@dataclasses.dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A Credential Request after its database-free checks (parse, key-proof signatures).

    Errors are kept, not raised, so that :func:`record_credentials` reports them in the
    protocol's order: the access token first, then the request, then the proofs.
    """

    body: Mapping[str, Any] = dataclasses.field(repr=False)
    configuration_id: str
    proofs: tuple[KeyProof, ...]
    request_error: ELicenseError | None = None
    proof_error: ELicenseError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UnsignedBatch:
    """Recorded credentials (ids, status entries, holder keys) still to be signed."""

    credential_type: CredentialType
    source: claim_source.SourceRecord = dataclasses.field(repr=False)
    records: tuple[CredentialRow, ...]
    proofs: tuple[KeyProof, ...]


def check_request(ctx: IssuerContext, body: Mapping[str, Any]) -> CheckedRequest:
    """Parse a Credential Request and verify its key proofs (pure: no database)."""
    try:
        configuration_id, proof_jwts = _parse_request(body)
    except ELicenseError as exc:
        return CheckedRequest(body, "", (), request_error=exc)
    try:
        proofs = tuple(_verify_proofs(proof_jwts, ctx.base_url))
    except ELicenseError as exc:
        return CheckedRequest(body, configuration_id, (), proof_error=exc)
    return CheckedRequest(body, configuration_id, proofs)


def record_credentials(
    tx: IssuanceTx, ctx: IssuerContext, grant: TokenGrant, request: CheckedRequest
) -> UnsignedBatch:
    """Consume the nonces and record one credential per proof (or find the earlier
    records of an identical request: an idempotent retry)."""
    if request.request_error is not None:
        raise request.request_error
    configuration_id = request.configuration_id
    credential_type = _granted_type(ctx.catalog, grant, configuration_id)
    if request.proof_error is not None:
        raise request.proof_error
    proofs = list(request.proofs)
    digest = request_hash(request.body)
    previous, already_issued = _earlier(tx, grant.token_hash, digest, configuration_id)
    if previous:
        return _reissue(tx, credential_type, grant, proofs, previous)
    for nonce in dict.fromkeys(p.nonce for p in proofs):
        _use_nonce(tx, nonce)
    if already_issued:
        raise InvalidCredentialRequest(
            "this access token already obtained this credential", code="credential_already_issued"
        )
    source = claim_source.source_from(tx.registry, credential_type, grant.person_id)
    notification_id = ids.new_id("ntf")
    records = tuple(
        CredentialRow(
            **_new_record(tx, ctx, credential_type, grant, source, proof, index),
            notification_id=notification_id,
            request_hash=digest,
        )
        for index, proof in enumerate(proofs)
    )
    tx.insert_credentials(list(records))
    return UnsignedBatch(credential_type, source, records, tuple(proofs))


def sign_credentials(ctx: IssuerContext, batch: UnsignedBatch) -> IssuedBatch:
    """Sign recorded credentials (no database: may run after the transaction commits)."""
    return _sign(ctx, batch.credential_type, batch.source, list(batch.records), list(batch.proofs))


def _parse_request(body: Mapping[str, Any]) -> tuple[str, list[object]]:
    if "credential_identifier" in body:
        raise InvalidCredentialRequest("credential_identifier is not supported here")
    configuration_id = body.get("credential_configuration_id")
    if not isinstance(configuration_id, str):
        raise InvalidCredentialRequest("credential_configuration_id is missing")
    if "proof" in body:
        raise InvalidCredentialRequest("use proofs (OpenID4VCI 1.0), not proof")
    proofs = body.get("proofs")
    jwts = proofs.get("jwt") if isinstance(proofs, Mapping) else None
    if not isinstance(jwts, list) or not jwts or set(proofs) != {"jwt"}:  # type: ignore[arg-type]
        raise InvalidProof('proofs must be {"jwt": [ ... ]}', code="proofs_missing")
    if len(jwts) > BATCH_SIZE:
        raise InvalidCredentialRequest(
            f"at most {BATCH_SIZE} proofs per request", code="batch_too_large"
        )
    return configuration_id, jwts


def _granted_type(catalog: Catalog, grant: TokenGrant, configuration_id: str) -> CredentialType:
    if configuration_id not in catalog or configuration_id not in grant.configuration_ids:
        raise UnknownCredentialConfiguration(
            f"credential configuration {configuration_id!r} is unknown or was not offered"
        )
    return catalog.get(configuration_id)


def _verify_proofs(jwts: list[object], audience: str) -> list[KeyProof]:
    now = clock.epoch()
    proofs = [verify_key_proof(token, audience=audience, now=now) for token in jwts]
    if len({p.jkt for p in proofs}) != len(proofs):
        raise InvalidProof(
            "every proof of a batch must use a different key", code="proof_duplicate_key"
        )
    return proofs


def _earlier(
    tx: IssuanceTx, token_hash: str, digest: str, configuration_id: str
) -> tuple[list[CredentialRow], bool]:
    """In one query, what this token obtained before: the records of an identical earlier
    request (a retry), and whether it already obtained ``configuration_id``."""
    rows = tx.earlier(token_hash)
    previous = [r for r in rows if r.request_hash == digest]
    return previous, any(r.configuration_id == configuration_id for r in rows)


def _new_record(
    tx: IssuanceTx,
    ctx: IssuerContext,
    credential_type: CredentialType,
    grant: TokenGrant,
    source: claim_source.SourceRecord,
    proof: KeyProof,
    index: int,
) -> dict[str, Any]:
    credential_id = ids.new_id("cred")
    status = tx.allocate_status(credential_type.id, credential_id, base_url=ctx.base_url)
    now = clock.now().replace(microsecond=0)
    return {
        "id": credential_id,
        "person_id": grant.person_id,
        "configuration_id": credential_type.id,
        "format": format_for(credential_type).format_id,
        "source_id": source.source_id,
        "status_uri": status.uri,
        "status_idx": status.idx,
        "holder_jkt": proof.jkt,
        "token_hash": grant.token_hash,
        "proof_index": index,
        "issued_at": now,
        "expires_at": _expires_at(credential_type, source, now),
        "state": "issued",
        "state_changed_at": now,
    }


def _expires_at(
    credential_type: CredentialType, source: claim_source.SourceRecord, now: dt.datetime
) -> dt.datetime:
    """The catalogue's validity, capped by the record's own end (a ``valid_until`` validity
    claim, a civil date in UTC+8): a travel pass never outlives its endorsement."""
    expires = credential_type.expires_at(now)
    for claim in credential_type.claims:
        if claim.validity and claim.name == "valid_until" and claim.source:
            group, _, name = claim.source.partition(".")
            until = source.fields.get(group, {}).get(name)
            if isinstance(until, dt.date):
                end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=_CHINA)
                expires = min(expires, end)
    return expires


def _reissue(
    tx: IssuanceTx,
    credential_type: CredentialType,
    grant: TokenGrant,
    proofs: list[KeyProof],
    previous: list[CredentialRow],
) -> UnsignedBatch:
    """The same request again (lost response): same ids, status entries and holder keys."""
    if [r.holder_jkt for r in previous] != [p.jkt for p in proofs]:
        raise InvalidCredentialRequest("retry does not match the original request")
    if any(r.state == "revoked" for r in previous):
        raise CredentialRequestDenied("the credential was revoked meanwhile", code="revoked")
    source = claim_source.source_from(tx.registry, credential_type, grant.person_id)
    return UnsignedBatch(credential_type, source, tuple(previous), tuple(proofs))


def _sign(
    ctx: IssuerContext,
    credential_type: CredentialType,
    source: claim_source.SourceRecord,
    records: list[CredentialRow],
    proofs: list[KeyProof],
) -> IssuedBatch:
    fmt = format_for(credential_type)
    signer = ctx.signers.signer_for(credential_type.authority.signing_key)
    claims = claim_source.build_claims(credential_type, source)
    credentials = tuple(
        fmt.issue(
            signer,
            CredentialInput(
                credential_type=credential_type,
                issuer=ctx.base_url,
                claims=claims,
                holder_jwk=proof.jwk,
                status_uri=record.status_uri,
                status_idx=record.status_idx,
                issued_at=int(record.issued_at.timestamp()),
                expires_at=int(record.expires_at.timestamp()),
            ),
        )
        for record, proof in zip(records, proofs, strict=True)
    )
    return IssuedBatch(
        credentials=credentials,
        notification_id=records[0].notification_id,
        credential_ids=tuple(r.id for r in records),
    )


# --- notification endpoint ----------------------------------------------------------------


def notify(session: Session, grant: TokenGrant, body: Mapping[str, Any]) -> None:
    """Record the wallet's notification (accepted, failure, deleted) for a batch."""
    notification_id, event = body.get("notification_id"), body.get("event")
    if not isinstance(notification_id, str) or event not in NOTIFICATION_STATES:
        raise InvalidNotificationRequest("notification_id and a known event are required")
    query = select(IssuedCredential).where(
        IssuedCredential.notification_id == notification_id,
        IssuedCredential.token_hash == grant.token_hash,
    )
    rows = list(session.scalars(query))
    if not rows:
        raise InvalidNotificationId("unknown notification_id")
    for row in rows:
        if row.state != "revoked":
            row.state, row.state_changed_at = NOTIFICATION_STATES[str(event)], clock.now()
    session.flush()


# --- records for other parts ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedCredentialRecord:
    id: str
    person_id: str
    configuration_id: str
    source_id: str
    status_uri: str
    status_idx: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    state: str


def issued_credentials(session: Session, person_id: str) -> list[IssuedCredentialRecord]:
    """Every credential issued to ``person_id``, oldest first."""
    query = (
        select(IssuedCredential)
        .where(IssuedCredential.person_id == person_id)
        .order_by(IssuedCredential.issued_at, IssuedCredential.proof_index)
    )
    return [_record(row) for row in session.scalars(query)]


def _record(row: IssuedCredential) -> IssuedCredentialRecord:
    return IssuedCredentialRecord(
        id=row.id,
        person_id=row.person_id,
        configuration_id=row.configuration_id,
        source_id=row.source_id,
        status_uri=row.status_uri,
        status_idx=row.status_idx,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        state=row.state,
    )


def purge_expired(session: Session) -> None:
    """Drop expired nonces, DPoP proof ids and access tokens (housekeeping)."""
    now = clock.now()
    session.execute(delete(Nonce).where(Nonce.expires_at <= now))
    session.execute(delete(DpopJti).where(DpopJti.expires_at <= now))
    session.execute(delete(AccessToken).where(AccessToken.expires_at <= now - TOKEN_TTL))


_INSERT_JTI = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(DpopJti)
    .on_conflict_do_nothing()
    .returning(DpopJti.jti_hash)
    for dialect in (postgresql, sqlite)
}


def _insert_ignore(session: Session, table: type[DpopJti], values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted."""
    assert table is DpopJti
    statement = _INSERT_JTI[session.get_bind().dialect.name]
    return session.execute(statement, values).first() is not None
