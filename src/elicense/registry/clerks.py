"""Clerk accounts, passwords (argon2id), bearer tokens and role checks.

Roles: ``registrar`` (persons, appointments, marriages, divorces; sees full ID numbers),
``auditor`` (reads records and the audit log), ``admin`` (offices, slots, audit log).
Bearer tokens are 256-bit random strings (prefix ``elr_``) stored only as SHA-256
hashes, with an expiry; they can be revoked. Unknown user and wrong password give the
same error (``invalid_credentials``) and take the same time.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from elicense import clock, ids
from elicense.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from elicense.registry import audit
from elicense.registry.models import ApiToken, Clerk
from elicense.registry.types import SYSTEM, Actor, ClerkRecord, IssuedToken, Role

TOKEN_PREFIX = "elr_"  # noqa: S105 (a label, not a secret)
DEFAULT_TOKEN_TTL = dt.timedelta(hours=8)
MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,31}")


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("dummy password for timing equalization")


def create_clerk(
    session: Session, *, username: str, role: Role, password: str, actor: Actor = SYSTEM
) -> ClerkRecord:
    """Create an active clerk account; ``Conflict(clerk_exists)`` if the name is taken."""
    _check_username(username)
    row = Clerk(
        id=ids.new_id("clk"),
        username=username,
        password_hash=_hasher().hash(_check_password(password)),
        role=Role(role).value,
        active=True,
        created_at=clock.now(),
    )
    if session.scalar(select(Clerk.id).where(Clerk.username == username)) is not None:
        raise _clerk_exists()
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise _clerk_exists() from None
    audit.record(session, actor, "clerk.create", "clerk", row.id, {"role": row.role})
    return _record(row)


def set_password(
    session: Session, username: str, password: str, *, actor: Actor = SYSTEM
) -> ClerkRecord:
    row = _row_by_username(session, username)
    row.password_hash = _hasher().hash(_check_password(password))
    audit.record(session, actor, "clerk.set_password", "clerk", row.id)
    return _record(row)


def deactivate_clerk(session: Session, username: str, *, actor: Actor = SYSTEM) -> ClerkRecord:
    """Disable an account; its tokens stop working at once."""
    row = _row_by_username(session, username)
    row.active = False
    audit.record(session, actor, "clerk.deactivate", "clerk", row.id)
    return _record(row)


def get_clerk(session: Session, username: str) -> ClerkRecord:
    return _record(_row_by_username(session, username))


def authenticate(session: Session, username: str, password: str) -> ClerkRecord:
    """Check a username and password; ``Unauthorized(invalid_credentials)`` otherwise."""
    row = session.scalar(select(Clerk).where(Clerk.username == username))
    if not _verify(row.password_hash if row else _dummy_hash(), password) or row is None:
        raise Unauthorized("unknown user or wrong password", code="invalid_credentials")
    if not row.active:
        raise Unauthorized("unknown user or wrong password", code="invalid_credentials")
    if _hasher().check_needs_rehash(row.password_hash):
        row.password_hash = _hasher().hash(password)
    return _record(row)


def issue_token(
    session: Session, clerk: ClerkRecord, *, ttl: dt.timedelta = DEFAULT_TOKEN_TTL
) -> IssuedToken:
    """A new bearer token for ``clerk``, valid for ``ttl``."""
    token = TOKEN_PREFIX + ids.secret_token()
    now = clock.now()
    session.add(
        ApiToken(
            token_hash=_token_hash(token), clerk_id=clerk.id, created_at=now, expires_at=now + ttl
        )
    )
    audit.record(session, clerk.actor, "clerk.token.issue", "clerk", clerk.id)
    return IssuedToken(token=token, expires_at=now + ttl, clerk=clerk)


def login(
    session: Session, username: str, password: str, *, ttl: dt.timedelta = DEFAULT_TOKEN_TTL
) -> IssuedToken:
    """Authenticate and issue a bearer token."""
    return issue_token(session, authenticate(session, username, password), ttl=ttl)


def actor_for_token(session: Session, token: str) -> Actor:
    """The clerk behind a bearer token; ``Unauthorized`` when unknown, expired or revoked."""
    row = session.get(ApiToken, _token_hash(token)) if token.startswith(TOKEN_PREFIX) else None
    if row is None or row.revoked_at is not None:
        raise Unauthorized("the bearer token is not valid", code="token_invalid")
    if row.expires_at <= clock.now():
        raise Unauthorized("the bearer token has expired", code="token_expired")
    clerk = session.get(Clerk, row.clerk_id)
    if clerk is None or not clerk.active:
        raise Unauthorized("the bearer token is not valid", code="token_invalid")
    return Actor(clerk.id, Role(clerk.role), clerk.username)


def revoke_token(session: Session, token: str, *, actor: Actor = SYSTEM) -> None:
    """Revoke a bearer token (logout); unknown tokens are ignored."""
    row = session.get(ApiToken, _token_hash(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        audit.record(session, actor, "clerk.token.revoke", "clerk", row.clerk_id)


def require_role(actor: Actor, *roles: Role) -> None:
    """Raise ``Forbidden(role_required)`` unless ``actor`` has one of ``roles``."""
    if actor.role not in roles:
        wanted = " or ".join(role.value for role in roles)
        raise Forbidden(f"this action needs the {wanted} role", code="role_required")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row_by_username(session: Session, username: str) -> Clerk:
    row = session.scalar(select(Clerk).where(Clerk.username == username))
    if row is None:
        raise NotFound("no clerk with this username", code="clerk_not_found")
    return row


def _record(row: Clerk) -> ClerkRecord:
    return ClerkRecord(id=row.id, username=row.username, role=Role(row.role), active=row.active)


def _check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValidationFailed(
            "username must be 3–32 characters: a lower-case letter, then letters, digits, . _ -",
            code="username_invalid",
        )


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            code="password_too_short",
        )
    if len(password) > 256:
        raise ValidationFailed(
            "password must have at most 256 characters", code="password_too_long"
        )
    return password


def _clerk_exists() -> Conflict:
    return Conflict("a clerk with this username already exists", code="clerk_exists")
