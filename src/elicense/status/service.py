"""Status lists: create, allocate random indices, set statuses, publish signed tokens.

The business rules of the status part; the only code that touches its tables.

* **Allocation** draws a uniformly random index with :mod:`secrets` and inserts it
  under the ``(list_id, idx)`` primary key with ``ON CONFLICT DO NOTHING``; a taken
  index is simply drawn again, so concurrent issuers never share an index and never
  wait on a shared counter. Indices are never sequential, so an index says nothing about
  when or to whom a credential was issued. After :data:`MAX_DRAWS` taken indices in a
  row the list counts as full (it is then well over 80% used), is closed, and
  :func:`allocate_for` moves on to a fresh list.
* **Statuses**: ``VALID`` (0), ``INVALID`` (1, revoked) and ``SUSPENDED`` (2). Setting
  the current status again is a no-op; revoked is final (:class:`Conflict`,
  ``status_revoked_final``). Each change bumps the list ``version``.
* **Publishing** signs the list as a Status List Token (JWT and CWT forms) with the
  list's signing key, and caches the signed token per ``(list, version, form)``; it is
  re-signed only when the list changed or the cached token is past half its lifetime.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.crypto.keystore import Signer
from elicense.errors import Conflict, NotFound, ValidationFailed
from elicense.status import token as status_token
from elicense.status.check import StatusReference
from elicense.status.models import StatusAllocation, StatusListRow, StatusListToken
from elicense.status.token import TokenClaims, TokenForm
from elicense.status.token_status_list import ALLOWED_BITS, Status, StatusList
from elicense.storage.prepared import Prepared

MIN_LIST_SIZE = 2**17
DEFAULT_LIST_SIZE = 2**17
DEFAULT_BITS = 2
MAX_DRAWS = 16
DEFAULT_TTL_SECONDS = 300
DEFAULT_LIFETIME_SECONDS = 24 * 3600
LIST_PATH = "/status/lists"


class SignerSource(Protocol):
    """Gives the signer for a logical key name (a catalogue authority's ``signing_key``)."""

    def signer_for(self, key_name: str) -> Signer: ...


@dataclasses.dataclass(frozen=True, slots=True)
class StatusListInfo:
    id: str
    purpose: str
    bits: int
    size: int
    version: int
    signing_key: str
    closed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of :func:`set_status`; ``version`` is the list version afterwards."""

    list_id: str
    index: int
    previous: Status
    current: Status
    version: int

    @property
    def changed(self) -> bool:
        return self.previous is not self.current


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedToken:
    """A signed Status List Token as served over HTTP."""

    list_id: str
    version: int
    form: TokenForm
    token: bytes
    issued_at: int
    expires_at: int
    ttl: int

    @property
    def media_type(self) -> str:
        return self.form.media_type

    @property
    def etag(self) -> str:
        """Strong ETag: list version, form and signing time (a re-signed token is new)."""
        return f'"v{self.version}-{self.form.value}-{self.issued_at}"'


def list_uri(base_url: str, list_id: str) -> str:
    """The stable URI of a list (the token's ``sub``, the credentials' ``status.uri``)."""
    return f"{base_url.rstrip('/')}{LIST_PATH}/{list_id}"


# --- lists -------------------------------------------------------------------------------


def create_list(
    session: Session,
    purpose: str,
    *,
    signing_key: str,
    size: int = DEFAULT_LIST_SIZE,
    bits: int = DEFAULT_BITS,
) -> StatusListInfo:
    """A new, all-valid list for ``purpose`` (a credential type id), signed by ``signing_key``."""
    if size < MIN_LIST_SIZE:
        raise ValidationFailed(
            f"a status list has at least {MIN_LIST_SIZE} entries", code="status_list_too_small"
        )
    if bits not in ALLOWED_BITS:
        raise ValidationFailed("bits must be 1, 2, 4 or 8", code="status_list_bits")
    now = clock.now()
    row = StatusListRow(
        id=ids.new_id("sl"),
        purpose=purpose,
        bits=bits,
        size=size,
        data=StatusList(size, bits).to_bytes(),
        signing_key=signing_key,
        version=1,
        created_at=now,
        updated_at=now,
        closed_at=None,
    )
    session.add(row)
    session.flush()
    return _info(row)


def get_list(session: Session, list_id: str) -> StatusListInfo:
    """The list ``list_id``; raises :class:`NotFound` (``status_list_not_found``)."""
    return _info(_row(session, list_id))


def _row(session: Session, list_id: str, *, for_update: bool = False) -> StatusListRow:
    query = select(StatusListRow).where(StatusListRow.id == list_id)
    row = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if row is None:
        raise NotFound(f"no status list {list_id}", code="status_list_not_found")
    return row


def _info(row: StatusListRow) -> StatusListInfo:
    return StatusListInfo(
        id=row.id,
        purpose=row.purpose,
        bits=row.bits,
        size=row.size,
        version=row.version,
        signing_key=row.signing_key,
        closed=row.closed_at is not None,
    )


# --- allocation --------------------------------------------------------------------------


def allocate(
    session: Session, list_id: str, credential_ref: str, *, base_url: str
) -> StatusReference:
    """A random unused index of ``list_id`` for ``credential_ref`` (idempotent per ref).

    Raises :class:`Conflict` ``status_list_full`` (and closes the list) when
    :data:`MAX_DRAWS` random indices in a row are taken.
    """
    existing = find_allocation(session, credential_ref, base_url=base_url)
    if existing is not None:
        return existing
    row = _row(session, list_id)
    if row.closed_at is not None:
        raise Conflict(f"status list {list_id} is closed", code="status_list_full")
    for _ in range(MAX_DRAWS):
        index = secrets.randbelow(row.size)
        if _try_insert(session, list_id, index, credential_ref):
            return StatusReference(idx=index, uri=list_uri(base_url, list_id))
        raced = find_allocation(session, credential_ref, base_url=base_url)
        if raced is not None:
            return raced
    row.closed_at = clock.now()
    session.flush()
    raise Conflict(f"status list {list_id} is full", code="status_list_full")


def allocate_for(
    session: Session,
    purpose: str,
    credential_ref: str,
    *,
    signing_key: str,
    base_url: str,
    size: int = DEFAULT_LIST_SIZE,
    bits: int = DEFAULT_BITS,
) -> StatusReference:
    """Allocate on the newest open list for ``purpose``, creating one when none is open."""
    existing = find_allocation(session, credential_ref, base_url=base_url)
    if existing is not None:
        return existing
    for _ in range(2):
        list_id = (
            _open_list(session, purpose)
            or create_list(session, purpose, signing_key=signing_key, size=size, bits=bits).id
        )
        try:
            return allocate(session, list_id, credential_ref, base_url=base_url)
        except Conflict as exc:
            if exc.instance_code != "status_list_full":
                raise
    raise Conflict(f"no status list for {purpose} accepts entries", code="status_list_full")


def open_list_for(
    session: Session,
    purpose: str,
    *,
    signing_key: str,
    full: str | None = None,
    size: int = DEFAULT_LIST_SIZE,
    bits: int = DEFAULT_BITS,
) -> str:
    """The newest open list for ``purpose``, created when none is open; ``full`` (a list
    an allocation found full) is closed first. For :class:`PreparedAllocator`'s callers,
    in a transaction of its own."""
    if full is not None:
        row = _row(session, full, for_update=True)
        if row.closed_at is None:
            row.closed_at = clock.now()
            session.flush()
    return (
        _open_list(session, purpose)
        or create_list(session, purpose, signing_key=signing_key, size=size, bits=bits).id
    )


class NeedOpenList(Exception):
    """No open list for ``purpose`` (or ``full`` is full): the caller runs
    :func:`open_list_for` in a transaction of its own, then retries."""

    def __init__(self, purpose: str, full: str | None = None) -> None:
        super().__init__(purpose)
        self.purpose, self.full = purpose, full


class PreparedAllocator:
    """:func:`allocate_for` for a fresh credential reference, as two compiled statements
    on a driver cursor inside the caller's transaction (the issuer's hot path): the
    newest open list, then random draws, each an ``INSERT … ON CONFLICT DO NOTHING`` on
    the ``(list_id, idx)`` key. Creating or closing a list is left to
    :func:`open_list_for` (:class:`NeedOpenList`)."""

    def __init__(self, dialect: Dialect) -> None:
        newest = (
            select(StatusListRow.id, StatusListRow.size)
            .where(StatusListRow.purpose == bindparam("purpose"), StatusListRow.closed_at.is_(None))
            .order_by(StatusListRow.created_at.desc(), StatusListRow.id)
            .limit(1)
        )
        self._newest = Prepared.compile(newest, dialect)
        module = postgresql if dialect.name == "postgresql" else sqlite
        insert_one = module.insert(StatusAllocation).on_conflict_do_nothing()
        keys = ("list_id", "idx", "credential_ref", "allocated_at")
        self._insert = Prepared.compile(insert_one, dialect, keys)

    def allocate(
        self, cursor: Any, purpose: str, credential_ref: str, *, base_url: str
    ) -> StatusReference:
        found = self._newest.one_or_none(cursor, {"purpose": purpose})
        if found is None:
            raise NeedOpenList(purpose)
        list_id, size = found
        now = clock.now()
        for _ in range(MAX_DRAWS):
            index = secrets.randbelow(size)
            values = {"list_id": list_id, "idx": index, "credential_ref": credential_ref}
            if self._insert.execute(cursor, values | {"allocated_at": now}).rowcount == 1:
                return StatusReference(idx=index, uri=list_uri(base_url, list_id))
        raise NeedOpenList(purpose, full=list_id)


def _open_list(session: Session, purpose: str) -> str | None:
    query = (
        select(StatusListRow.id)
        .where(StatusListRow.purpose == purpose, StatusListRow.closed_at.is_(None))
        .order_by(StatusListRow.created_at.desc(), StatusListRow.id)
        .limit(1)
    )
    return session.scalars(query).first()


def _try_insert(session: Session, list_id: str, index: int, credential_ref: str) -> bool:
    values = {
        "list_id": list_id,
        "idx": index,
        "credential_ref": credential_ref,
        "allocated_at": clock.now(),
    }
    statement = _insert(session, StatusAllocation).values(**values).on_conflict_do_nothing()
    result = session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)


def find_allocation(
    session: Session, credential_ref: str, *, base_url: str
) -> StatusReference | None:
    """The reference already allocated to ``credential_ref``, if any."""
    query = select(StatusAllocation).where(StatusAllocation.credential_ref == credential_ref)
    allocation = session.scalars(query).one_or_none()
    if allocation is None:
        return None
    return StatusReference(idx=allocation.idx, uri=list_uri(base_url, allocation.list_id))


# --- statuses ----------------------------------------------------------------------------


def get_status(session: Session, list_id: str, index: int) -> Status:
    """The current status of an allocated index."""
    row = _row(session, list_id)
    _require_allocated(session, list_id, index)
    return Status(StatusList(row.size, row.bits, row.data)[index])


def set_status(session: Session, list_id: str, index: int, status: Status) -> StatusChange:
    """Set an allocated index to ``status`` (idempotent); revoked is final."""
    row = _row(session, list_id, for_update=True)
    _require_allocated(session, list_id, index)
    if status >= 1 << row.bits:
        raise ValidationFailed(
            f"a {row.bits}-bit list cannot hold {status.name}", code="status_not_representable"
        )
    entries = StatusList(row.size, row.bits, row.data)
    previous = Status(entries[index])
    if previous is status:
        return StatusChange(list_id, index, previous, status, row.version)
    if previous is Status.INVALID:
        raise Conflict("a revoked credential stays revoked", code="status_revoked_final")
    entries[index] = status
    row.data = entries.to_bytes()
    row.version += 1
    row.updated_at = clock.now()
    session.flush()
    return StatusChange(list_id, index, previous, status, row.version)


def set_status_by_ref(session: Session, credential_ref: str, status: Status) -> StatusChange:
    """:func:`set_status` for the index allocated to ``credential_ref``."""
    query = select(StatusAllocation).where(StatusAllocation.credential_ref == credential_ref)
    allocation = session.scalars(query).one_or_none()
    if allocation is None:
        raise NotFound("no status entry for this credential", code="status_entry_not_found")
    return set_status(session, allocation.list_id, allocation.idx, status)


def _require_allocated(session: Session, list_id: str, index: int) -> None:
    if session.get(StatusAllocation, (list_id, index)) is None:
        raise NotFound(
            f"index {index} of {list_id} is not allocated", code="status_index_unallocated"
        )


# --- publishing --------------------------------------------------------------------------


def publish(
    session: Session,
    list_id: str,
    form: TokenForm,
    signers: SignerSource,
    *,
    base_url: str,
    ttl: int = DEFAULT_TTL_SECONDS,
    lifetime: int = DEFAULT_LIFETIME_SECONDS,
) -> PublishedToken:
    """The signed token for the list's current version: cached, or signed now and cached."""
    row = _row(session, list_id)
    now = clock.epoch()
    cached = session.get(StatusListToken, (list_id, row.version, form.value))
    if cached is not None and now < cached.issued_at + lifetime // 2 and now >= cached.issued_at:
        return _published(cached, form, ttl)
    claims = TokenClaims(uri=list_uri(base_url, list_id), iat=now, exp=now + lifetime, ttl=ttl)
    entries = StatusList(row.size, row.bits, row.data)
    signed = status_token.sign(form, entries, claims, signers.signer_for(row.signing_key))
    if cached is not None:
        session.expire(cached)
    stored = _store_token(session, row, form, signed, claims)
    return _published(stored, form, ttl)


def _store_token(
    session: Session, row: StatusListRow, form: TokenForm, signed: bytes, claims: TokenClaims
) -> StatusListToken:
    """Upsert the token for (list, version, form) and drop older versions' tokens."""
    session.execute(
        delete(StatusListToken).where(
            StatusListToken.list_id == row.id,
            StatusListToken.form == form.value,
            StatusListToken.version < row.version,
        )
    )
    values = {"token": signed, "issued_at": claims.iat, "expires_at": claims.exp}
    statement = _insert(session, StatusListToken).values(
        list_id=row.id, version=row.version, form=form.value, **values
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=["list_id", "version", "form"], set_=values)
    )
    return StatusListToken(list_id=row.id, version=row.version, form=form.value, **values)


def _insert(session: Session, table: type[StatusAllocation] | type[StatusListToken]) -> Any:
    """The dialect's INSERT (both SQLite and PostgreSQL speak ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _published(cached: StatusListToken, form: TokenForm, ttl: int) -> PublishedToken:
    return PublishedToken(
        list_id=cached.list_id,
        version=cached.version,
        form=form,
        token=cached.token,
        issued_at=cached.issued_at,
        expires_at=cached.expires_at,
        ttl=ttl,
    )
