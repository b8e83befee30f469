"""The issuer's hot path on a driver cursor: every statement compiled once per dialect.

The token, nonce and credential endpoints carry nearly all of an issuer's traffic. Run
through ORM units of work, their dozen statements cost several times the HTTP request
and the cryptography together; here each is one compiled statement
(:mod:`elicense.storage.prepared`: Core's SQL, parameter order and type conversions,
without its per-execution machinery) in the caller's transaction
(:func:`~elicense.storage.prepared.driver_cursor`). Registry records come through
:class:`~elicense.registry.reads.CursorReader`, status indices through
:class:`~elicense.status.service.PreparedAllocator`, so no part reads another's tables.

Single use is the database's: a conditional ``UPDATE`` for codes and nonces, a primary
key for DPoP proof ids. The rare paths (transaction codes, error explanations, opening a
status list) stay on the ORM in :mod:`elicense.issuance.service`.

On PostgreSQL, where every statement is a network round trip, the token endpoint's three
statements are one (:meth:`IssuanceTx.redeem_to_token`, run outside a transaction:
atomic on its own), so a token costs one round trip instead of five.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from sqlalchemy import Insert, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from elicense.issuance.models import AccessToken, DpopJti, IssuedCredential, Nonce, Offer
from elicense.registry.reads import CursorReader
from elicense.status.check import StatusReference
from elicense.status.service import PreparedAllocator
from elicense.storage.prepared import PerDialect, Prepared, writes_in_one_statement
from elicense.storage.sealing import Sealer

_CREDENTIAL_COLUMNS = tuple(c.key for c in IssuedCredential.__table__.columns)


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialRow:
    """One ``issuance_credentials`` row as the hot path reads and writes it (no ORM
    instance: building one costs more than the statement that stores it)."""

    id: str
    person_id: str
    configuration_id: str
    format: str
    source_id: str
    status_uri: str
    status_idx: int
    holder_jkt: str
    notification_id: str
    token_hash: str
    request_hash: str
    proof_index: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    state: str
    state_changed_at: dt.datetime


assert {f.name for f in dataclasses.fields(CredentialRow)} == set(_CREDENTIAL_COLUMNS)


def _keys(model: Any) -> tuple[str, ...]:
    return tuple(c.key for c in model.__table__.columns)


_REDEEM = (
    update(Offer)
    .where(
        Offer.code_hash == bindparam("code_hash"),
        Offer.redeemed_at.is_(None),
        Offer.tx_code_hash.is_(None),
        Offer.expires_at > bindparam("now"),
    )
    .values(redeemed_at=bindparam("now"), code_sealed=None)
    .returning(Offer.id, Offer.person_id, Offer.configuration_ids)
)
_JTI_KEY = "pk_issuance_dpop_jtis"  # a replayed DPoP proof id violates it


def _redeem_to_token() -> Insert:
    """:data:`_REDEEM`, the DPoP proof id and the access token as one statement (where
    :func:`~elicense.storage.prepared.writes_in_one_statement`): the redeemed offer in a
    CTE, the proof id inserted from it (a replay violates :data:`_JTI_KEY`, which undoes
    the whole statement), the token from both; it returns a row exactly when a live
    offer was redeemed and the token stored."""
    redeemed = _REDEEM.cte("redeemed")
    jti = (
        insert(DpopJti)
        .from_select(
            ["jti_hash", "expires_at"],
            select(
                _typed("jti_hash", DpopJti), _typed("jti_expires_at", DpopJti, "expires_at")
            ).select_from(redeemed),
        )
        .returning(DpopJti.jti_hash)
        .cte("jti")
    )
    columns = ("token_hash", "offer_id", "person_id", "configuration_ids", "dpop_jkt")
    token = select(
        _typed("token_hash", AccessToken),
        redeemed.c.id,
        redeemed.c.person_id,
        redeemed.c.configuration_ids,
        _typed("dpop_jkt", AccessToken),
        _typed("now", AccessToken, "created_at"),
        _typed("token_expires_at", AccessToken, "expires_at"),
    ).select_from(redeemed, jti)
    return (
        insert(AccessToken)
        .from_select([*columns, "created_at", "expires_at"], token)
        .returning(AccessToken.token_hash)
    )


def _typed(name: str, model: Any, column: str | None = None) -> Any:
    return bindparam(name, type_=model.__table__.c[column or name].type)


class Redeemed(enum.Enum):
    """What :meth:`IssuanceTx.redeem_to_token` did."""

    ISSUED = "issued"  # the offer is redeemed, the proof id recorded, the token stored
    NO_OFFER = "no_offer"  # no live offer without a transaction code: nothing written
    REPLAY = "replay"  # the DPoP proof id was seen before: nothing written


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        dml = postgresql if dialect.name == "postgresql" else sqlite
        self.redeem = Prepared.compile(_REDEEM, dialect)
        self.redeem_to_token = (
            Prepared.compile(_redeem_to_token(), dialect)
            if writes_in_one_statement(dialect)
            else None
        )
        self.insert_jti = Prepared.compile(
            dml.insert(DpopJti).on_conflict_do_nothing(), dialect, _keys(DpopJti)
        )
        self.insert_token = Prepared.compile(insert(AccessToken), dialect, _keys(AccessToken))
        self.insert_nonce = Prepared.compile(insert(Nonce), dialect, _keys(Nonce))
        self.consume_nonce = Prepared.compile(
            update(Nonce)
            .where(
                Nonce.nonce_hash == bindparam("nonce_hash"),
                Nonce.used_at.is_(None),
                Nonce.expires_at > bindparam("now"),
            )
            .values(used_at=bindparam("now")),
            dialect,
        )
        self.token = Prepared.compile(
            select(
                AccessToken.person_id,
                AccessToken.configuration_ids,
                AccessToken.dpop_jkt,
                AccessToken.expires_at,
            ).where(AccessToken.token_hash == bindparam("token_hash")),
            dialect,
        )
        self.earlier = Prepared.compile(
            select(*IssuedCredential.__table__.columns)
            .where(IssuedCredential.token_hash == bindparam("token_hash"))
            .order_by(IssuedCredential.proof_index),
            dialect,
        )
        self.insert_credential = Prepared.compile(
            insert(IssuedCredential), dialect, _CREDENTIAL_COLUMNS
        )
        self.allocator = PreparedAllocator(dialect)


_statements = PerDialect(_Statements)


def token_in_one_statement(dialect: Dialect) -> bool:
    """Whether the token endpoint's writes run as one statement
    (:meth:`IssuanceTx.redeem_to_token`, no transaction) rather than three in one."""
    return _statements(dialect).redeem_to_token is not None


class IssuanceTx:
    """One transaction of the issuer's hot path (see the module docstring)."""

    def __init__(self, cursor: Any, dialect: Dialect, sealer: Sealer) -> None:
        self.cursor = cursor
        self.statements = _statements(dialect)
        self.registry = CursorReader(cursor, dialect, sealer)
        self._integrity_error: type[Exception] = dialect.loaded_dbapi.IntegrityError
        #: the token endpoint's writes are one statement here (:meth:`redeem_to_token`)
        self.token_in_one_statement = token_in_one_statement(dialect)

    def redeem_to_token(self, values: dict[str, Any]) -> Redeemed:
        """:meth:`redeem`, :meth:`record_jti` and :meth:`insert_token` as one statement,
        outside any transaction (only where :attr:`token_in_one_statement`). ``values``:
        ``code_hash``, ``now``, ``jti_hash``, ``jti_expires_at`` and the token's
        ``token_hash``, ``dpop_jkt``, ``token_expires_at``."""
        statement = self.statements.redeem_to_token
        assert statement is not None, "only where token_in_one_statement"
        try:
            row = statement.one_or_none(self.cursor, values)
        except self._integrity_error as exc:
            if getattr(getattr(exc, "diag", None), "constraint_name", None) == _JTI_KEY:
                return Redeemed.REPLAY
            raise
        return Redeemed.NO_OFFER if row is None else Redeemed.ISSUED

    def redeem(self, code_hash: str, now: dt.datetime) -> tuple[str, str, list[str]] | None:
        """Mark a live offer without transaction code redeemed: (offer, person, types)."""
        row = self.statements.redeem.one_or_none(self.cursor, {"code_hash": code_hash, "now": now})
        return None if row is None else (row[0], row[1], list(row[2]))

    def record_jti(self, jti_hash: str, expires_at: dt.datetime) -> bool:
        """Remember a DPoP proof id; False when it was seen before."""
        values = {"jti_hash": jti_hash, "expires_at": expires_at}
        return bool(self.statements.insert_jti.execute(self.cursor, values).rowcount == 1)

    def insert_token(self, values: dict[str, Any]) -> None:
        self.statements.insert_token.execute(self.cursor, values)

    def insert_nonce(self, values: dict[str, Any]) -> None:
        self.statements.insert_nonce.execute(self.cursor, values)

    def consume_nonce(self, nonce_hash: str, now: dt.datetime) -> bool:
        values = {"nonce_hash": nonce_hash, "now": now}
        return bool(self.statements.consume_nonce.execute(self.cursor, values).rowcount == 1)

    def token(self, token_hash: str) -> tuple[str, list[str], str, dt.datetime] | None:
        """(person, types, DPoP key thumbprint, expiry) of an access token."""
        row = self.statements.token.one_or_none(self.cursor, {"token_hash": token_hash})
        return None if row is None else (row[0], list(row[1]), row[2], row[3])

    def earlier(self, token_hash: str) -> list[CredentialRow]:
        """What this token obtained before, by proof index."""
        rows = self.statements.earlier.all(self.cursor, {"token_hash": token_hash})
        return [CredentialRow(**dict(zip(_CREDENTIAL_COLUMNS, row, strict=True))) for row in rows]

    def insert_credentials(self, rows: list[CredentialRow]) -> None:
        for row in rows:
            values = {name: getattr(row, name) for name in _CREDENTIAL_COLUMNS}
            self.statements.insert_credential.execute(self.cursor, values)

    def allocate_status(
        self, purpose: str, credential_ref: str, *, base_url: str
    ) -> StatusReference:
        return self.statements.allocator.allocate(
            self.cursor, purpose, credential_ref, base_url=base_url
        )
