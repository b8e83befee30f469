"""Holder authentication: a wallet proves possession of a key bound to a credential we issued.

The wallet sends a ``holder-auth+jwt``: a compact JWS signed with the holder key of one of
its credentials (the key the credential's ``cnf.jwk`` names), the public key in the
``jwk`` header, ``alg`` ES256 (or EdDSA, like key proofs; never ``none`` or an HMAC), and
the claims ``aud`` (the exact URL of the endpoint), ``iat`` (within ±60 s of our clock),
``nonce`` (a ``c_nonce`` from ``POST /issuance/nonce``, used once) and ``jti``.

:func:`verify_holder_proof` is pure (signature and claims); :func:`authenticate` then
uses the nonce in the caller's transaction and finds the person through the holder key
thumbprint (RFC 7638) recorded in ``issuance_credentials``: a key never bound to one of
our credentials, or bound to credentials of two different persons, is refused. The key
may belong to a revoked or expired credential: re-offers after a registry change need
exactly that. Every failure is :class:`~elicense.errors.InvalidHolderAuth` with a
refined code.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from elicense.errors import InvalidHolderAuth, InvalidNonce
from elicense.issuance import service
from elicense.issuance.jwt_proofs import MAX_JTI_LENGTH, verify_self_signed
from elicense.issuance.models import IssuedCredential

HOLDER_AUTH_TYP = "holder-auth+jwt"
MAX_SKEW_SECONDS = 60
MAX_TOKEN_CHARS = 8192


@dataclasses.dataclass(frozen=True, slots=True)
class HolderProof:
    """A holder-auth JWT whose signature, ``typ``, ``alg``, ``aud``, ``iat`` and ``jti``
    checked; its nonce is still to be used (:func:`authenticate`)."""

    jkt: str
    nonce: str = dataclasses.field(repr=False)
    jti: str


@dataclasses.dataclass(frozen=True, slots=True)
class AuthenticatedHolder:
    """The person a proven holder key is bound to (only :func:`authenticate` makes one)."""

    person_id: str
    jkt: str


def endpoint_url(base_url: str, path: str) -> str:
    """The ``aud`` a holder-auth JWT for ``path`` must carry."""
    return f"{base_url}{path}"


def verify_holder_proof(token: object, *, audience: str, now: int) -> HolderProof:
    """Check a ``holder-auth+jwt`` for endpoint ``audience`` (pure: no database)."""
    if not token:
        raise InvalidHolderAuth("holder authentication is required", code="holder_auth_missing")
    if isinstance(token, str) and len(token) > MAX_TOKEN_CHARS:
        raise InvalidHolderAuth("the holder-auth JWT is too large", code="holder_auth_malformed")
    jwt = verify_self_signed(token, typ=HOLDER_AUTH_TYP, error=InvalidHolderAuth)
    claims = jwt.claims
    if claims.get("aud") != audience:
        raise InvalidHolderAuth("aud is not this endpoint's URL", code="holder_auth_aud")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int) or abs(iat - now) > MAX_SKEW_SECONDS:
        raise InvalidHolderAuth(
            f"iat must be whole seconds within {MAX_SKEW_SECONDS} s of now", code="holder_auth_iat"
        )
    jti, nonce = claims.get("jti"), claims.get("nonce")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidHolderAuth("the holder-auth JWT has no usable jti", code="holder_auth_jti")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidHolderAuth(
            "the holder-auth JWT has no nonce (POST /issuance/nonce)", code="holder_auth_nonce"
        )
    return HolderProof(jkt=jwt.jkt, nonce=nonce, jti=jti)


def authenticate(session: Session, proof: HolderProof) -> AuthenticatedHolder:
    """Use the proof's nonce (once) and find the person its key is bound to."""
    try:
        service.consume_nonce(session, proof.nonce)
    except InvalidNonce:
        raise InvalidHolderAuth(
            "the nonce is unknown, used or expired; fetch a new one", code="holder_auth_nonce"
        ) from None
    persons = list(session.scalars(_PERSONS_OF_KEY, {"jkt": proof.jkt}))
    if not persons:
        raise InvalidHolderAuth(
            "this key is not bound to any credential we issued", code="holder_auth_unknown_key"
        )
    if len(persons) > 1:
        raise InvalidHolderAuth(
            "this key is bound to credentials of more than one person",
            code="holder_auth_ambiguous_key",
        )
    return AuthenticatedHolder(person_id=persons[0], jkt=proof.jkt)


_PERSONS_OF_KEY = (
    select(IssuedCredential.person_id)
    .where(IssuedCredential.holder_jkt == bindparam("jkt"))
    .distinct()
    .limit(2)
)


def holder_keys(session: Session, person_id: str) -> tuple[str, ...]:
    """Every holder key bound to ``person_id``'s credentials and to no one else's."""
    mine = select(IssuedCredential.holder_jkt).where(IssuedCredential.person_id == person_id)
    query = (
        select(IssuedCredential.holder_jkt, IssuedCredential.person_id)
        .where(IssuedCredential.holder_jkt.in_(mine.scalar_subquery()))
        .distinct()
    )
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for jkt, person in session.execute(query):
        owners[jkt].add(person)
    return tuple(sorted(jkt for jkt, people in owners.items() if people == {person_id}))
