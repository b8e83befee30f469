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
import dataclasses
import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from elicense.crypto.file_store import INDEX, FileKeyStore, Stamp, stamp_is_settled
from elicense.crypto.issuing_ca import IssuingCA
from elicense.crypto.keystore import Signer
from elicense.errors import KeyNotFound

log = logging.getLogger("elicense.issuance.keys")

PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
PASSPHRASE_FILE = ".passphrase"  # noqa: S105 (a file name)
ORGANIZATION = "eLicense"


@dataclasses.dataclass(frozen=True, slots=True)
class _Current:
    """One authority's current signer and published keys, as of the index ``stamp``."""

    stamp: Stamp
    signer: Signer
    published: tuple[dict[str, Any], ...]
    settled: bool


class IssuerKeys:
    """The signing keys of every issuing authority, opened (or created) lazily.

    The current signer and the published keys of each authority are cached in memory
    and reused while the store's index is unchanged: each :meth:`signer_for` costs one
    ``stat`` of the index, so a rotation made by another process (``elicense keys
    rotate``) or another object is used from the next signature on, without a restart.
    An index written within the last two seconds is not trusted to change its stamp on
    the next write (coarse mtimes), so it is re-read until it has settled.
    """

    def __init__(self, keys_dir: Path, key_names: Iterable[str], *, issuer_url: str) -> None:
        self.keys_dir = Path(keys_dir)
        self.key_names = tuple(sorted(set(key_names)))
        self.issuer_url = issuer_url
        self._stores: dict[str, FileKeyStore] = {}
        self._current: dict[str, _Current] = {}
        self._lock = threading.Lock()
        self._reload_locks = {name: threading.Lock() for name in self.key_names}

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
        return self._fresh(key_name).signer

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Every authority's published (non-retired) keys as one JWK Set."""
        return {"keys": [dict(k) for n in self.key_names for k in self._fresh(n).published]}

    def provision(self) -> None:
        """Open (creating when absent) every authority's store now rather than lazily."""
        for name in self.key_names:
            self.store(name)

    def _fresh(self, key_name: str) -> _Current:
        store = self.store(key_name)
        cached = self._current.get(key_name)
        if cached is not None and cached.settled and cached.stamp == store.stamp():
            return cached
        with self._reload_locks[key_name]:
            stamp = store.stamp()  # before reading: a write after it changes the stamp
            cached = self._current.get(key_name)
            if cached is not None and cached.settled and cached.stamp == stamp:
                return cached
            keys = store.list_keys()
            current = _Current(
                stamp=stamp,
                signer=store.current_signer(),
                published=tuple(k.jwk() for k in keys if k.retired_at is None),
                settled=stamp_is_settled(stamp),
            )
            self._current[key_name] = current
            return current


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
        ca = IssuingCA.create(
            f"{ORGANIZATION} {key_name} Issuing CA",
            issuer_url=issuer_url,
            organization=ORGANIZATION,
        )
        store = FileKeyStore.init(directory, secret, certify=ca.chain_for)
        ca.save(store)
        log.info("created issuer key store %s", key_name)
        return store


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
