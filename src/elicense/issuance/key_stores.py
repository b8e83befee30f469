"""Where issuer keys live: files (the default) or an HSM through PKCS#11.

Both backends give :class:`~elicense.issuance.keys.IssuerKeys` one store per catalogue
key name, made on first use with a signing key certified by the authority's own
issuing CA, and a cheap ``stamp`` that changes whenever the store does:

- :class:`FileBackend`: ``<keys_dir>/<key_name>/``, the ``elicense keys init`` layout
  (passphrase-encrypted PEM); the stamp is one ``stat`` of the key index, checked on
  every signature.
- :class:`Pkcs11Backend` (``ELICENSE_ISSUER_KEYSTORE=pkcs11``): the signing keys *and*
  the issuing CA key are generated in the token (sensitive, non-extractable) under the
  labels ``<key_name>`` and ``<key_name>-ca``; certificates are signed in the token and
  kept on it. The stamp lists the store's objects on the token, which costs more than
  a signature, so it is checked at most once per ``recheck_seconds`` (1 s): a rotation
  on the token is used within a second. Keys are created under a lock file in
  ``keys_dir`` so that workers starting together make one CA, not several.

Each backend also rotates an authority's key (certified by its issuing CA before it
becomes current) and gives its CA certificate back, for ``elicense keys rotate|jwks|
export-trust --authority``.

Development only: when ``ELICENSE_KEY_PASSPHRASE`` is unset a passphrase is generated
into ``<keys_dir>/.passphrase`` (0600) with a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import re
import secrets
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Protocol

from cryptography import x509

from elicense.config import Settings, read_pin
from elicense.crypto import algorithms
from elicense.crypto.file_store import INDEX, FileKeyStore, stamp_is_settled
from elicense.crypto.issuing_ca import IssuingCA, ca_anchors, rotate_certified
from elicense.crypto.keystore import KeyInfo, Signer
from elicense.crypto.pkcs11_store import Pkcs11KeyStore, Pkcs11Session
from elicense.crypto.x509 import issuer_url_of
from elicense.errors import ConfigError, CryptoError

log = logging.getLogger("elicense.issuance.keys")

PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
PASSPHRASE_FILE = ".passphrase"  # noqa: S105 (a file name)
ORGANIZATION = "eLicense"
_CA_SUFFIX = "-ca"
_TOKEN_KEY_NAME = re.compile(r"[A-Za-z0-9_.]{1,64}")
_HSM_SETTING = {
    "module": "ELICENSE_PKCS11_MODULE",
    "token": "ELICENSE_PKCS11_TOKEN_LABEL",
    "session": "ELICENSE_PKCS11_TOKEN_LABEL",
    "pin": "ELICENSE_PKCS11_PIN_FILE",
}


class AuthorityStore(Protocol):
    """One authority's keys as :class:`IssuerKeys` reads them."""

    def stamp(self) -> Hashable: ...

    def current_signer(self) -> Signer: ...

    def list_keys(self) -> list[KeyInfo]: ...


class KeyBackend(Protocol):
    """Opens (creating when absent) the store of each catalogue key name."""

    @property
    def recheck_seconds(self) -> float:
        """How long a checked stamp is trusted without asking again (0: every time)."""
        ...

    def open(self, key_name: str) -> AuthorityStore: ...

    def rotate(self, key_name: str, alg: str = algorithms.ES256) -> KeyInfo:
        """A new current key for ``key_name``, certified by its issuing CA first."""
        ...

    def anchors(self, key_name: str) -> list[x509.Certificate]:
        """The issuing-CA certificate of ``key_name`` (the verifiers' ``x5c`` anchor)."""
        ...

    def settled(self, stamp: Hashable) -> bool:
        """Whether a later change is sure to change ``stamp`` (else re-read next time)."""
        ...

    def close(self) -> None: ...


class FileBackend:
    """Issuer keys in passphrase-encrypted files under ``keys_dir``."""

    recheck_seconds = 0.0

    def __init__(self, keys_dir: Path, issuer_url: str) -> None:
        self.keys_dir = keys_dir
        self.issuer_url = issuer_url

    def open(self, key_name: str) -> FileKeyStore:
        directory = self.keys_dir / key_name
        secret = passphrase(self.keys_dir)
        with creation_lock(self.keys_dir):
            if (directory / INDEX).exists():
                return FileKeyStore(directory, secret)
            ca = IssuingCA.create(
                f"{ORGANIZATION} {key_name} Issuing CA",
                issuer_url=self.issuer_url,
                organization=ORGANIZATION,
            )
            store = FileKeyStore.init(directory, secret, certify=ca.chain_for)
            ca.save(store)
            log.info("created issuer key store %s", key_name)
            return store

    def rotate(self, key_name: str, alg: str = algorithms.ES256) -> KeyInfo:
        return rotate_certified(self.open(key_name), alg)

    def anchors(self, key_name: str) -> list[x509.Certificate]:
        return ca_anchors(self.open(key_name).directory)

    def settled(self, stamp: Hashable) -> bool:
        assert isinstance(stamp, tuple)
        return stamp_is_settled(stamp)

    def close(self) -> None:
        return None


class Pkcs11Backend:
    """Issuer keys and their issuing CAs in one PKCS#11 token."""

    def __init__(
        self,
        session: Pkcs11Session,
        keys_dir: Path,
        issuer_url: str,
        *,
        recheck_seconds: float = 1.0,
    ) -> None:
        self.session = session
        self.keys_dir = keys_dir
        self.issuer_url = issuer_url
        self.recheck_seconds = recheck_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11Backend:
        """Log in to the token named by the settings; a bad module, token label or PIN
        is a :class:`ConfigError` naming the variable (one line at start)."""
        hsm = settings.pkcs11
        if hsm is None:
            raise ConfigError(
                "ELICENSE_ISSUER_KEYSTORE=pkcs11 needs the ELICENSE_PKCS11_* settings"
            )
        try:
            session = Pkcs11Session.open(str(hsm.module), hsm.token_label, read_pin(hsm))
        except CryptoError as exc:
            setting = _HSM_SETTING.get(str(exc.extra.get("reason")), "ELICENSE_PKCS11_MODULE")
            raise ConfigError(f"{setting}: {exc.message}") from exc
        return cls(session, settings.keys_dir, settings.public_base_url)

    def open(self, key_name: str) -> Pkcs11KeyStore:
        if not _TOKEN_KEY_NAME.fullmatch(key_name):
            raise ConfigError(f"issuer key name {key_name!r} cannot be a PKCS#11 label prefix")
        store = Pkcs11KeyStore.on(self.session, prefix=key_name)
        with creation_lock(self.keys_dir):
            if not store.list_keys():
                ca = self._issuing_ca(key_name)
                store.rotate(certify=ca.chain_for)
                log.info("created issuer key %s in the HSM", key_name)
        return store

    def rotate(self, key_name: str, alg: str = algorithms.ES256) -> KeyInfo:
        """A new key in the token, certified for the issuer URL that the current key's
        certificate names (the file store keeps it in ``issuer.json``), so that an
        operator's shell without the server's ``ELICENSE_PUBLIC_BASE_URL`` cannot change
        it; the settings' URL only when the current key names none."""
        store = self.open(key_name)
        ca = self.issuing_ca(key_name)
        chain = store.certificate_chain(store.current_signer().kid)
        issuer = (issuer_url_of(chain[0]) if chain else None) or ca.issuer_url
        return store.rotate(alg, certify=dataclasses.replace(ca, issuer_url=issuer).chain_for)

    def anchors(self, key_name: str) -> list[x509.Certificate]:
        return [self.issuing_ca(key_name).cert]

    def issuing_ca(self, key_name: str) -> IssuingCA:
        """The authority's issuing CA on the token (made if absent)."""
        with creation_lock(self.keys_dir):
            return self._issuing_ca(key_name)

    def settled(self, stamp: Hashable) -> bool:
        return True  # the stamp is the token's object list itself, not a timestamp

    def close(self) -> None:
        self.session.release()

    def _issuing_ca(self, key_name: str) -> IssuingCA:
        store = Pkcs11KeyStore.on(self.session, prefix=key_name + _CA_SUFFIX)
        if not store.list_keys():
            store.rotate()
        signer = store.current_signer()
        chain = store.certificate_chain(signer.kid)
        if chain:
            return IssuingCA(signer, chain[0], self.issuer_url, ORGANIZATION)
        ca = IssuingCA.self_signed(
            signer,
            f"{ORGANIZATION} {key_name} Issuing CA",
            issuer_url=self.issuer_url,
            organization=ORGANIZATION,
        )
        store.set_certificate_chain(signer.kid, [ca.cert])
        log.info("created the issuing CA of %s in the HSM", key_name)
        return ca


def open_backend(settings: Settings) -> KeyBackend:
    """The backend ``ELICENSE_ISSUER_KEYSTORE`` names (an HSM is logged in to now)."""
    if settings.issuer_keystore == "pkcs11":
        return Pkcs11Backend.from_settings(settings)
    return FileBackend(settings.keys_dir, settings.public_base_url)


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


@contextlib.contextmanager
def creation_lock(keys_dir: Path) -> Iterator[None]:
    """Serialise key creation between processes starting at once on a fresh data dir."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(keys_dir / ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
