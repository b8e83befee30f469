"""The issuing CA kept beside a file key store (the ``elicense keys init`` layout).

::

    ca.key.pem     the CA's private key, encrypted with the store passphrase
    ca.cert.pem    the self-signed CA certificate (the verifiers' trust anchor)
    issuer.json    {"iss": <issuer URL>, "organization": <name>} for new certificates

:meth:`IssuingCA.chain_for` is the ``certify`` argument of
:meth:`~elicense.crypto.file_store.FileKeyStore.rotate`: every new signing key gets its
document-signer chain before it becomes current; :func:`rotate_certified` is that
rotation and :func:`ca_anchors` reads the CA certificate back (``elicense keys`` and the
server's file backend both use them).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elicense.crypto import algorithms
from elicense.crypto import x509 as chain
from elicense.crypto.file_store import FileKeyStore
from elicense.crypto.keystore import KeyInfo
from elicense.errors import ConfigError

CA_KEY = "ca.key.pem"
CA_CERT = "ca.cert.pem"
ISSUER_FILE = "issuer.json"


@dataclasses.dataclass(frozen=True, slots=True)
class IssuingCA:
    """An issuing CA and the issuer it certifies document signers for."""

    key: chain.CertKey
    cert: x509.Certificate
    issuer_url: str
    organization: str

    @classmethod
    def create(cls, common_name: str, *, issuer_url: str, organization: str) -> IssuingCA:
        """A new P-256 issuing CA (in memory until :meth:`save`)."""
        key, cert = chain.create_issuing_ca(common_name, organization=organization)
        return cls(key, cert, issuer_url, organization)

    @classmethod
    def self_signed(
        cls, key: chain.CertKey, common_name: str, *, issuer_url: str, organization: str
    ) -> IssuingCA:
        """A CA over an existing key (e.g. one made in an HSM): its certificate now."""
        cert = chain.issuing_ca_certificate(key, common_name, organization=organization)
        return cls(key, cert, issuer_url, organization)

    @classmethod
    def load(cls, store: FileKeyStore) -> IssuingCA | None:
        """The CA saved beside ``store``, or ``None`` when the store has none."""
        directory = store.directory
        if not (directory / CA_KEY).exists():
            return None
        meta = json.loads((directory / ISSUER_FILE).read_text("utf-8"))
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        return cls(store.load_private_key(CA_KEY), cert, meta["iss"], meta["organization"])

    def save(self, store: FileKeyStore) -> None:
        """Write the CA key (encrypted), its certificate and the issuer facts."""
        if not isinstance(self.key, algorithms.PrivateKey):
            raise ConfigError("a CA key held by a signer cannot be saved to a file")
        store.save_private_key(CA_KEY, self.key)
        (store.directory / CA_CERT).write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        meta = {"iss": self.issuer_url, "organization": self.organization}
        (store.directory / ISSUER_FILE).write_text(json.dumps(meta), "utf-8")

    def chain_for(self, public_key: algorithms.PublicKey) -> list[x509.Certificate]:
        """A document-signer certificate for ``public_key`` followed by the CA's."""
        leaf = chain.issue_document_signer(
            self.key,
            self.cert,
            public_key,
            issuer_url=self.issuer_url,
            organization=self.organization,
        )
        return [leaf, self.cert]


def rotate_certified(store: FileKeyStore, alg: str = algorithms.ES256) -> KeyInfo:
    """A new current key in ``store``, certified by the CA saved beside it (if it has one)."""
    ca = IssuingCA.load(store)
    return store.rotate(alg, certify=ca.chain_for if ca else None)


def ca_anchors(directory: Path) -> list[x509.Certificate]:
    """The CA certificate saved in a store's ``directory`` (none when it has no CA)."""
    path = directory / CA_CERT
    return x509.load_pem_x509_certificates(path.read_bytes()) if path.exists() else []
