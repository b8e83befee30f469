"""Signers and key stores: where issuer keys live and how they sign.

A :class:`Signer` is one private key that can produce JWS signatures; a
:class:`KeyStore` owns a set of issuer keys with one *current* signing key. Rotation
adds a new current key; older keys stay published (in :meth:`KeyStore.jwks`) so that
credentials they signed keep verifying, until they are retired.

Implementations: :class:`~elicense.crypto.file_store.FileKeyStore` (PEM files,
passphrase-encrypted) and :class:`~elicense.crypto.pkcs11_store.Pkcs11KeyStore` (an HSM).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

from elicense.crypto import algorithms
from elicense.crypto.jwk import public_jwk, thumbprint


@runtime_checkable
class Signer(Protocol):
    """Something that signs JWS signing inputs with one private key."""

    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> str: ...

    @property
    def public_jwk(self) -> dict[str, str]: ...

    @property
    def x5c(self) -> tuple[str, ...]:
        """Base64 (not url) DER certificates, leaf first; empty when there is none."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The JWS signature over ``data`` (raw ``r || s`` for ES256)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class LocalSigner:
    """A :class:`Signer` over an in-memory ``cryptography`` private key."""

    private_key: algorithms.PrivateKey
    x5c: tuple[str, ...] = ()
    kid: str = ""
    alg: str = ""
    public_jwk: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        jwk = public_jwk(self.private_key)
        object.__setattr__(self, "public_jwk", jwk)
        object.__setattr__(self, "kid", self.kid or thumbprint(jwk))
        object.__setattr__(self, "alg", algorithms.algorithm_for_key(self.private_key))

    def sign(self, data: bytes) -> bytes:
        return algorithms.sign(self.alg, self.private_key, data)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about one key in a store."""

    kid: str
    alg: str
    public_jwk: dict[str, str]
    created_at: int
    retired_at: int | None = None

    def jwk(self) -> dict[str, Any]:
        """The JWK as published in a JWKS (with ``kid``, ``alg`` and ``use``)."""
        return {**self.public_jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


class KeyStore(Protocol):
    """A set of issuer keys with one current signing key."""

    def current_signer(self) -> Signer:
        """The signer new credentials are signed with."""
        ...

    def signer(self, kid: str) -> Signer:
        """The signer for ``kid``; raises :class:`~elicense.errors.KeyNotFound`."""
        ...

    def list_keys(self) -> list[KeyInfo]:
        """Every key in the store, newest first."""
        ...

    def rotate(self, alg: str = algorithms.ES256) -> KeyInfo:
        """Generate a new key and make it current; old keys keep verifying."""
        ...

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` (credentials it signed stop verifying)."""
        ...


def jwks(store: KeyStore) -> dict[str, list[dict[str, Any]]]:
    """The JWK Set to publish: every key that is not retired."""
    return {"keys": [k.jwk() for k in store.list_keys() if k.retired_at is None]}
