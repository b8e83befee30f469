"""A :class:`~elicense.crypto.keystore.KeyStore` in a directory of PEM files.

Layout (all written ``0600`` in a ``0700`` directory)::

    keys.json            index: current kid, every key's alg, creation and retirement
    <kid>.key.pem        PKCS#8 private key, encrypted with the store passphrase
    <kid>.chain.pem      optional document-signer certificate chain (leaf first)

The index is replaced (``os.replace``) on every change, the chain included: a new key's
chain is written *before* the index names the key, and :meth:`FileKeyStore.stamp` (one
``stat`` of the index) tells another process cheaply whether anything changed.

Meant for development and small deployments; production keys belong in an HSM
(:mod:`elicense.crypto.pkcs11_store`).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense import clock
from elicense.crypto import algorithms
from elicense.crypto.jwk import public_jwk, thumbprint
from elicense.crypto.keystore import KeyInfo, LocalSigner, Signer
from elicense.errors import ConfigError, Conflict, CryptoError, KeyNotFound

INDEX = "keys.json"
_MIN_PASSPHRASE = 8
SETTLE_NS = 2_000_000_000
"""Coarser than any file system's mtime resolution we run on (FAT's is 2 s)."""

Certify = Callable[[algorithms.PublicKey], list[x509.Certificate]]
"""Makes the document-signer chain (leaf first) for a new key's public key."""
Stamp = tuple[int, int, int, int]
"""``(device, inode, size, mtime_ns)`` of the index file."""


def generate_private_key(alg: str = algorithms.ES256) -> algorithms.PrivateKey:
    """A fresh private key for ``alg`` (ES256 or EdDSA)."""
    if alg == algorithms.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == algorithms.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    raise CryptoError(f"cannot generate keys for {alg}", code="unsupported_algorithm")


def write_private_pem(path: Path, key: algorithms.PrivateKey, passphrase: bytes) -> None:
    """Write ``key`` as passphrase-encrypted PKCS#8 PEM, readable by the owner only."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_secret(path, pem)


def read_private_pem(path: Path, passphrase: bytes) -> algorithms.PrivateKey:
    """Load an encrypted PKCS#8 PEM private key written by :func:`write_private_pem`."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except FileNotFoundError as exc:
        raise KeyNotFound(f"no key file {path.name}") from exc
    except (ValueError, TypeError) as exc:
        raise CryptoError(
            "wrong passphrase or damaged key file", code="key_decrypt_failed"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise CryptoError("unsupported key type in key file", code="unsupported_algorithm")
    return key


class FileKeyStore:
    """Issuer keys as encrypted PEM files under ``directory``."""

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if len(passphrase) < _MIN_PASSPHRASE:
            raise ConfigError(f"key passphrase must be at least {_MIN_PASSPHRASE} bytes")
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._private: dict[str, algorithms.PrivateKey] = {}
        self._index_path = os.fspath(self.directory / INDEX)

    @classmethod
    def init(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        alg: str = algorithms.ES256,
        certify: Certify | None = None,
    ) -> FileKeyStore:
        """Create a new store with one signing key (certified by ``certify`` when given);
        refuse to overwrite an existing one."""
        store = cls(directory, passphrase)
        if (store.directory / INDEX).exists():
            raise Conflict(
                f"a key store already exists in {store.directory}", code="keystore_exists"
            )
        store.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        store._save({"version": 1, "current": None, "keys": []})
        store.rotate(alg, certify=certify)
        return store

    # --- KeyStore protocol ---------------------------------------------------------

    def current_signer(self) -> Signer:
        current = self._index().get("current")
        if not isinstance(current, str):
            raise KeyNotFound("the key store has no current key")
        return self.signer(current)

    def signer(self, kid: str) -> Signer:
        """The signer of ``kid`` with its chain as stored now (the key is decrypted once)."""
        entry = self._entry(kid)
        key = self._private.get(kid)
        if key is None:
            key = read_private_pem(self.directory / entry["file"], self._passphrase)
            self._private[kid] = key
        return LocalSigner(key, x5c=self._x5c(kid), kid=kid)

    def list_keys(self) -> list[KeyInfo]:
        entries = sorted(self._index()["keys"], key=lambda e: e["created_at"], reverse=True)
        return [_key_info(e) for e in entries]

    def rotate(self, alg: str = algorithms.ES256, *, certify: Certify | None = None) -> KeyInfo:
        """A new current key; its chain (from ``certify``) is on disk before the index
        names it, so no reader sees the new key without its certificate."""
        key = generate_private_key(alg)
        jwk = public_jwk(key)
        kid = thumbprint(jwk)
        write_private_pem(self.directory / f"{kid}.key.pem", key, self._passphrase)
        if certify is not None:
            self._write_chain(kid, certify(key.public_key()))
        index = self._index()
        # later than every key before it, so "newest first" holds within one second too
        created = max([clock.epoch(), *(e["created_at"] + 1 for e in index["keys"])])
        entry: dict[str, Any] = {"kid": kid, "alg": alg, "jwk": jwk, "file": f"{kid}.key.pem"}
        entry |= {"created_at": created, "retired_at": None}
        index["keys"].append(entry)
        index["current"] = kid
        self._save(index)
        return _key_info(entry)

    def retire(self, kid: str) -> None:
        index = self._index()
        if index.get("current") == kid:
            raise Conflict("cannot retire the current signing key; rotate first")
        self._entry(kid)
        for entry in index["keys"]:
            if entry["kid"] == kid:
                entry["retired_at"] = clock.epoch()
        self._save(index)

    def stamp(self) -> Stamp:
        """A cheap fingerprint of the index (one ``stat``): it changes whenever the store
        does, in this process or another. Within the file system's timestamp resolution
        two writes of equal size may share a stamp; see :func:`stamp_is_settled`."""
        try:
            st = os.stat(self._index_path)
        except FileNotFoundError as exc:
            raise KeyNotFound(f"no key store in {self.directory}", code="keystore_missing") from exc
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    # --- other secrets under the same passphrase (the issuing CA key) ------------------

    def save_private_key(self, name: str, key: algorithms.PrivateKey) -> None:
        """Store another private key (e.g. the CA key) encrypted like the signing keys."""
        write_private_pem(self.directory / name, key, self._passphrase)

    def load_private_key(self, name: str) -> algorithms.PrivateKey:
        """Load a key stored with :meth:`save_private_key`."""
        return read_private_pem(self.directory / name, self._passphrase)

    # --- certificates ----------------------------------------------------------------

    def set_certificate_chain(self, kid: str, chain: list[x509.Certificate]) -> None:
        """Store the document-signer chain (leaf first) sent as ``x5c`` with ``kid``."""
        self._entry(kid)
        self._write_chain(kid, chain)
        self._save(self._index())  # a new index: other processes see the change

    def certificate_chain(self, kid: str) -> list[x509.Certificate]:
        """The stored chain for ``kid`` (empty when none was set)."""
        path = self.directory / f"{kid}.chain.pem"
        return x509.load_pem_x509_certificates(path.read_bytes()) if path.exists() else []

    # --- internals ---------------------------------------------------------------------

    def _write_chain(self, kid: str, chain: list[x509.Certificate]) -> None:
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        _write_secret(self.directory / f"{kid}.chain.pem", pem)

    def _x5c(self, kid: str) -> tuple[str, ...]:
        der = (c.public_bytes(serialization.Encoding.DER) for c in self.certificate_chain(kid))
        return tuple(base64.b64encode(d).decode("ascii") for d in der)

    def _index(self) -> dict[str, Any]:
        try:
            data = json.loads((self.directory / INDEX).read_text("utf-8"))
        except FileNotFoundError as exc:
            raise KeyNotFound(f"no key store in {self.directory}", code="keystore_missing") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ConfigError(f"{self.directory / INDEX} is damaged")
        return data

    def _entry(self, kid: str) -> dict[str, Any]:
        for entry in self._index()["keys"]:
            if entry["kid"] == kid:
                return dict(entry)
        raise KeyNotFound(f"no key {kid} in the store")

    def _save(self, index: dict[str, Any]) -> None:
        index["revision"] = int(index.get("revision", 0)) + 1
        _write_secret(self.directory / INDEX, json.dumps(index, indent=2).encode("utf-8"))


def stamp_is_settled(stamp: Stamp, *, now_ns: int | None = None) -> bool:
    """Whether ``stamp`` is old enough that any later write must change its mtime
    (the "racy git" rule): a stamp taken within :data:`SETTLE_NS` of the write is not
    trusted, since a second write in the same timestamp tick could leave it equal."""
    now = time.time_ns() if now_ns is None else now_ns
    return now - stamp[3] > SETTLE_NS


def _key_info(entry: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        kid=entry["kid"],
        alg=entry["alg"],
        public_jwk=dict(entry["jwk"]),
        created_at=int(entry["created_at"]),
        retired_at=entry.get("retired_at"),
    )


def _write_secret(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
