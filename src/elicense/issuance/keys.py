"""Issuer signing keys: one :class:`FileKeyStore` per issuing authority, made on first use.

Each catalogue authority names a logical key (``authority.signing_key``, e.g.
``civil_affairs``); its store lives in ``<keys_dir>/<key_name>/`` with the same layout as
``elicense keys init`` (signing key, issuing CA, document-signer chain), so the
``elicense keys`` commands work on it. :class:`IssuerKeys` is the one
:class:`~elicense.status.service.SignerSource` of a process: credentials and status
lists are signed with the same keys, and :meth:`IssuerKeys.jwks` publishes them.

Development only: when ``ELICENSE_KEY_PASSPHRASE`` is unset a passphrase is generated
into ``<keys_dir>/.passphrase`` (0600) with a warning. Production keys belong in an HSM.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from elicense.crypto import x509 as chain
from elicense.crypto.file_store import INDEX, FileKeyStore
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.keystore import Signer, jwks
from elicense.errors import KeyNotFound

log = logging.getLogger("elicense.issuance.keys")

PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
PASSPHRASE_FILE = ".passphrase"  # noqa: S105 (a file name)
CA_KEY = "ca.key.pem"
CA_CERT = "ca.cert.pem"
ISSUER_FILE = "issuer.json"
ORGANIZATION = "eLicense"


class IssuerKeys:
    """The signing keys of every issuing authority, opened (or created) lazily."""

    def __init__(self, keys_dir: Path, key_names: Iterable[str], *, issuer_url: str) -> None:
        self.keys_dir = Path(keys_dir)
        self.key_names = tuple(sorted(set(key_names)))
        self.issuer_url = issuer_url
        self._stores: dict[str, FileKeyStore] = {}
        self._lock = threading.Lock()

    def store(self, key_name: str) -> FileKeyStore:
        """The key store of ``key_name``, created with a key and a certificate if absent."""
        if key_name not in self.key_names:
            raise KeyNotFound(f"no issuer key named {key_name!r}", code="issuer_key_unknown")
        with self._lock:
            if key_name not in self._stores:
                self._stores[key_name] = _open_or_create(self.keys_dir, key_name, self.issuer_url)
            return self._stores[key_name]

    def signer_for(self, key_name: str) -> Signer:
        """The current signer of ``key_name`` (the :class:`SignerSource` protocol)."""
        return self.store(key_name).current_signer()

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Every authority's published (non-retired) keys as one JWK Set."""
        keys: list[dict[str, Any]] = []
        for name in self.key_names:
            keys.extend(jwks(self.store(name))["keys"])
        return {"keys": keys}

    def provision(self) -> None:
        """Open (creating when absent) every authority's store now rather than lazily."""
        for name in self.key_names:
            self.store(name)


def passphrase(keys_dir: Path) -> bytes:
    """``ELICENSE_KEY_PASSPHRASE``, else the development passphrase file (made if absent)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode("utf-8")
    path = keys_dir / PASSPHRASE_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            log.warning(
                "generated a development key passphrase in %s; set %s (or use an HSM) "
                "in production",
                path,
                PASSPHRASE_ENV,
            )
    return path.read_text("utf-8").strip().encode("utf-8")


def _open_or_create(keys_dir: Path, key_name: str, issuer_url: str) -> FileKeyStore:
    directory = keys_dir / key_name
    secret = passphrase(keys_dir)
    with _file_lock(keys_dir):
        if (directory / INDEX).exists():
            return FileKeyStore(directory, secret)
        store = FileKeyStore.init(directory, secret)
        _certify(store, issuer_url, key_name)
        log.info("created issuer key store %s", key_name)
        return store


def _certify(store: FileKeyStore, issuer_url: str, key_name: str) -> None:
    """An issuing CA for the authority and a document-signer certificate for its key."""
    ca_key, ca_cert = chain.create_issuing_ca(
        f"{ORGANIZATION} {key_name} Issuing CA", organization=ORGANIZATION
    )
    store.save_private_key(CA_KEY, ca_key)
    (store.directory / CA_CERT).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    meta = {"iss": issuer_url, "organization": ORGANIZATION}
    (store.directory / ISSUER_FILE).write_text(json.dumps(meta), "utf-8")
    signer = store.current_signer()
    leaf = chain.issue_document_signer(
        ca_key,
        ca_cert,
        load_public_jwk(signer.public_jwk),
        issuer_url=issuer_url,
        organization=ORGANIZATION,
    )
    store.set_certificate_chain(signer.kid, [leaf, ca_cert])


@contextlib.contextmanager
def _file_lock(keys_dir: Path) -> Iterator[None]:
    """Serialise key creation between processes starting at once on a fresh data dir."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(keys_dir / ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
