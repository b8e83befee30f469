"""Issuer signing keys: one store per issuing authority, made on first use.

Each catalogue authority names a logical key (``authority.signing_key``, e.g.
``civil_affairs``). Its store comes from the backend ``ELICENSE_ISSUER_KEYSTORE``
names (:mod:`elicense.issuance.key_stores`): by default ``<keys_dir>/<key_name>/`` with
the same layout as ``elicense keys init`` (signing key, issuing CA, document-signer
chain), so the ``elicense keys`` commands work on it; with ``pkcs11`` the keys, the
issuing CA and the chains are in an HSM. :class:`IssuerKeys` is the one
:class:`~elicense.status.service.SignerSource` of a process: credentials and status
lists are signed with the same keys, and :meth:`IssuerKeys.jwks` publishes them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509

from elicense.catalog.model import Catalog
from elicense.config import Settings
from elicense.crypto import algorithms
from elicense.crypto.keystore import KeyInfo, Signer
from elicense.errors import ConfigError, KeyNotFound
from elicense.issuance.key_stores import (
    PASSPHRASE_ENV,
    AuthorityStore,
    FileBackend,
    KeyBackend,
    open_backend,
)

__all__ = [
    "PASSPHRASE_ENV",
    "IssuerKeys",
    "authority_key_name",
    "catalog_key_names",
    "open_issuer_keys",
]


@dataclasses.dataclass(frozen=True, slots=True)
class _Current:
    """One authority's current signer and published keys, as of the store's ``stamp``
    (last compared at ``checked_at``, a monotonic time taken before the stamp was read:
    a change made after ``checked_at + recheck_seconds`` is never hidden by it)."""

    stamp: Hashable
    signer: Signer
    published: tuple[dict[str, Any], ...]
    settled: bool
    checked_at: float


class IssuerKeys:
    """The signing keys of every issuing authority, opened (or created) lazily.

    The current signer and the published keys of each authority are cached in memory
    and reused while the store's stamp is unchanged. For files each :meth:`signer_for`
    costs one ``stat`` of the key index, so a rotation made by another process
    (``elicense keys rotate``) or another object is used from the next signature on,
    without a restart; an index written within the last two seconds is not trusted to
    change its stamp on the next write (coarse mtimes), so it is re-read until it has
    settled. For an HSM the stamp is looked up at most once a second, so a rotation
    made elsewhere is used by every signature that starts ``recheck_seconds`` after it
    (``elicense keys rotate`` waits that long before it returns).
    """

    def __init__(
        self,
        keys_dir: Path,
        key_names: Iterable[str],
        *,
        issuer_url: str,
        backend: KeyBackend | None = None,
    ) -> None:
        self.keys_dir = Path(keys_dir)
        self.key_names = tuple(sorted(set(key_names)))
        self.issuer_url = issuer_url
        self.backend: KeyBackend = backend or FileBackend(self.keys_dir, issuer_url)
        self._stores: dict[str, AuthorityStore] = {}
        self._current: dict[str, _Current] = {}
        self._lock = threading.Lock()
        self._reload_locks = {name: threading.Lock() for name in self.key_names}

    def store(self, key_name: str) -> AuthorityStore:
        """The key store of ``key_name``, created with a key and a certificate if absent."""
        if key_name not in self.key_names:
            raise KeyNotFound(f"no issuer key named {key_name!r}", code="issuer_key_unknown")
        with self._lock:
            if key_name not in self._stores:
                self._stores[key_name] = self.backend.open(key_name)
            return self._stores[key_name]

    def signer_for(self, key_name: str) -> Signer:
        """The current signer of ``key_name`` (the :class:`SignerSource` protocol)."""
        return self._fresh(key_name).signer

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Every authority's published (non-retired) keys as one JWK Set."""
        return {"keys": [dict(k) for n in self.key_names for k in self._fresh(n).published]}

    def rotate(self, key_name: str, alg: str = algorithms.ES256) -> KeyInfo:
        """A new current key for ``key_name``, certified by the authority's issuing CA
        before it becomes current; used by this object from its next signature."""
        self.store(key_name)
        info = self.backend.rotate(key_name, alg)
        with self._reload_locks[key_name]:
            self._current.pop(key_name, None)
        return info

    def anchors(self) -> list[x509.Certificate]:
        """Every authority's issuing-CA certificate (the verifiers' ``x5c`` anchors)."""
        anchors: list[x509.Certificate] = []
        for name in self.key_names:
            self.store(name)  # made if absent, as the server does
            anchors.extend(self.backend.anchors(name))
        return anchors

    def provision(self) -> None:
        """Open (creating when absent) every authority's store now rather than lazily."""
        for name in self.key_names:
            self.store(name)

    def close(self) -> None:
        """Release the backend (logs out of an HSM when this was its last user)."""
        self.backend.close()

    def _fresh(self, key_name: str) -> _Current:
        store = self.store(key_name)
        cached = self._current.get(key_name)
        if cached is not None and self._still_current(cached, store):
            return cached
        with self._reload_locks[key_name]:
            cached = self._current.get(key_name)
            if cached is not None and self._recently_checked(cached):
                return cached  # another thread has just looked
            checked_at = time.monotonic()
            stamp = store.stamp()  # before reading: a write after it changes the stamp
            if cached is not None and cached.settled and cached.stamp == stamp:
                current = dataclasses.replace(cached, checked_at=checked_at)
            else:
                keys = store.list_keys()
                current = _Current(
                    stamp=stamp,
                    signer=store.current_signer(),
                    published=tuple(k.jwk() for k in keys if k.retired_at is None),
                    settled=self.backend.settled(stamp),
                    checked_at=checked_at,
                )
            self._current[key_name] = current
            return current

    def _recently_checked(self, cached: _Current) -> bool:
        recheck = self.backend.recheck_seconds
        return cached.settled and time.monotonic() < cached.checked_at + recheck

    def _still_current(self, cached: _Current, store: AuthorityStore) -> bool:
        if self._recently_checked(cached):
            return True
        cheap = not self.backend.recheck_seconds  # a stamp cheap enough to ask every time
        return cheap and cached.settled and cached.stamp == store.stamp()


def open_issuer_keys(settings: Settings, key_names: Iterable[str]) -> IssuerKeys:
    """The issuer keys of ``key_names`` in the store the settings name."""
    return IssuerKeys(
        settings.keys_dir,
        key_names,
        issuer_url=settings.public_base_url,
        backend=open_backend(settings),
    )


def catalog_key_names(catalog: Catalog) -> tuple[str, ...]:
    """The issuer key names of the catalogue's authorities (``authority.signing_key``)."""
    return tuple(sorted({t.authority.signing_key for t in catalog}))


def authority_key_name(catalog: Catalog, authority: str) -> str:
    """The key name of ``authority``, given as its catalogue ``id`` or its key name."""
    names = {t.authority.id: t.authority.signing_key for t in catalog}
    names.update((key, key) for key in catalog_key_names(catalog))
    if authority not in names:
        raise ConfigError(
            f"no issuing authority {authority!r} in the catalogue; expected one of "
            + ", ".join(sorted(names)),
            code="authority_unknown",
        )
    return names[authority]
