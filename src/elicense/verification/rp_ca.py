"""The platform RP CA and the access certificates it issues to relying parties.

The RP CA is generated on first start into ``<data dir>/keys/rp_ca/`` (P-256 key as a
0600 PEM file, self-signed certificate). Each RP gets an *access certificate* for a key
the platform holds on its behalf: ``subjectAltName`` carries ``dNSName = <client host>``
(and the ``https://<host>`` URI), so its OpenID4VP client identifier is
``x509_san_dns:<host>`` or ``x509_hash:<base64url SHA-256 of the DER certificate>``.

:func:`verify_request_signer` is what a wallet runs on a request object's ``x5c``:
the chain must end at the RP CA and the ``client_id`` must match the leaf.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicense.crypto import algorithms, base64url
from elicense.crypto import x509 as chain
from elicense.crypto.keystore import LocalSigner
from elicense.errors import UntrustedIssuer, UntrustedVerifier

PREFIX_SAN_DNS = "x509_san_dns"
PREFIX_HASH = "x509_hash"
_KEY_FILE = "rp_ca.key.pem"
_CERT_FILE = "rp_ca.cert.pem"


@dataclasses.dataclass(frozen=True, slots=True)
class RpCa:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def signer(self) -> LocalSigner:
        """Signs registration attestations (``x5c`` = the CA certificate)."""
        return LocalSigner(self.key, x5c=chain.to_x5c([self.certificate]))


def create(organization: str = "eLicense") -> RpCa:
    key, cert = chain.create_issuing_ca(
        f"{organization} Relying Party CA", organization=organization
    )
    return RpCa(key, cert)


def load_or_create(directory: Path) -> RpCa:
    """The RP CA in ``directory``, generated on first use."""
    key_path, cert_path = directory / _KEY_FILE, directory / _CERT_FILE
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return RpCa(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
    ca = create()
    directory.mkdir(parents=True, exist_ok=True)
    pem = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    cert_path.write_text(ca.pem, encoding="ascii")
    return ca


def issue_access_certificate(
    ca: RpCa, public_key: algorithms.PublicKey, host: str, organization: str
) -> x509.Certificate:
    """An access certificate for ``host`` (SAN dNSName) chaining to the RP CA."""
    return chain.issue_document_signer(
        ca.key, ca.certificate, public_key, issuer_url=f"https://{host}", organization=organization
    )


def x509_hash(certificate: x509.Certificate) -> str:
    """base64url SHA-256 of the DER certificate (the ``x509_hash`` prefix value)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return base64url.encode(hashlib.sha256(der).digest())


def client_id_for(certificate: x509.Certificate, host: str, prefix: str) -> str:
    if prefix == PREFIX_SAN_DNS:
        return f"{PREFIX_SAN_DNS}:{host}"
    if prefix == PREFIX_HASH:
        return f"{PREFIX_HASH}:{x509_hash(certificate)}"
    raise UntrustedVerifier(f"client_id prefix {prefix} is not supported", code="client_id_prefix")


def verify_request_signer(
    x5c: object, client_id: str, anchors: list[x509.Certificate]
) -> algorithms.PublicKey:
    """The leaf key of ``x5c`` if it chains to ``anchors`` and matches ``client_id``."""
    if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
        raise UntrustedVerifier("request object has no x5c", code="request_x5c_missing")
    prefix, _, value = client_id.partition(":")
    leaf = chain.load_certificate(x5c[0])
    if prefix == PREFIX_SAN_DNS:
        name = f"https://{value}"
    elif prefix == PREFIX_HASH:
        if x509_hash(leaf) != value:
            raise UntrustedVerifier("x509_hash does not match", code="client_id_mismatch")
        name = _first_uri(leaf)
    else:
        raise UntrustedVerifier(f"client_id prefix {prefix!r} unsupported", code="client_id_prefix")
    try:
        return chain.verify_x5c(x5c, anchors, issuer=name)
    except UntrustedIssuer as exc:
        code = (
            "client_id_mismatch" if exc.instance_code == "x5c_wrong_issuer" else "rp_ca_untrusted"
        )
        raise UntrustedVerifier(f"request object signer: {exc.message}", code=code) from exc


def _first_uri(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise UntrustedVerifier("certificate has no SAN", code="client_id_mismatch") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if not uris:
        raise UntrustedVerifier("certificate has no URI SAN", code="client_id_mismatch")
    return uris[0]
