"""The issuer's X.509 hierarchy: an issuing CA and document-signer certificates.

``elicense keys init`` makes a self-signed issuing CA (the trust anchor that verifiers
configure) and, for each signing key, a document-signer (DS) certificate naming the
issuer URL in its subjectAltName. Credentials may carry the DS chain as ``x5c``;
:func:`verify_x5c` accepts it only if it chains to a configured anchor.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from elicense import clock
from elicense.crypto import algorithms
from elicense.errors import UntrustedIssuer

CA_DAYS = 3650
DS_DAYS = 1095
_MAX_X5C = 4


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _hash_for(key: algorithms.PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def create_issuing_ca(
    common_name: str, *, organization: str = "eLicense", days: int = CA_DAYS
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 self-signed issuing CA (path length 0) and its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organization)
    now = clock.now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_document_signer(
    ca_key: algorithms.PrivateKey,
    ca_cert: x509.Certificate,
    public_key: algorithms.PublicKey,
    *,
    issuer_url: str,
    organization: str = "eLicense",
    days: int = DS_DAYS,
) -> x509.Certificate:
    """A document-signer certificate for ``public_key``, naming ``issuer_url``."""
    now = clock.now()
    host = urlsplit(issuer_url).hostname or issuer_url
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"{host} document signer", organization))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(issuer_url), x509.DNSName(host)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, _hash_for(ca_key))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def to_x5c(chain: Sequence[x509.Certificate]) -> tuple[str, ...]:
    """Certificates as JOSE ``x5c`` values (standard base64 DER, leaf first)."""
    der = (c.public_bytes(serialization.Encoding.DER) for c in chain)
    return tuple(base64.b64encode(d).decode("ascii") for d in der)


def load_certificate(text: str) -> x509.Certificate:
    """A certificate from PEM or from base64 DER (``x5c`` style)."""
    try:
        if "-----BEGIN" in text:
            return x509.load_pem_x509_certificate(text.encode("ascii"))
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise UntrustedIssuer("not a certificate", code="x5c_malformed") from exc


def _require_signing_leaf(_policy: Policy, _cert: x509.Certificate, ku: x509.KeyUsage) -> None:
    if not ku.digital_signature:
        raise ValueError("leaf certificate may not sign documents")


def verify_x5c(
    x5c: object, anchors: Sequence[x509.Certificate], *, issuer: str
) -> algorithms.PublicKey:
    """The leaf public key of ``x5c`` if it chains to ``anchors`` now and names ``issuer``."""
    if not isinstance(x5c, list) or not 0 < len(x5c) <= _MAX_X5C:
        raise UntrustedIssuer("x5c is not a short list of certificates", code="x5c_malformed")
    if not anchors:
        raise UntrustedIssuer("no x5c trust anchors for this issuer", code="x5c_not_trusted")
    certs = [load_certificate(c) if isinstance(c, str) else _bad_x5c() for c in x5c]
    ee_policy = ExtensionPolicy.permit_all().require_present(
        x509.KeyUsage, Criticality.AGNOSTIC, _require_signing_leaf
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(clock.now())
        .max_chain_depth(2)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(certs[0], certs[1:])
    except VerificationError as exc:
        raise UntrustedIssuer(
            "x5c does not chain to a trust anchor", code="x5c_not_trusted"
        ) from exc
    _require_issuer_name(verified.subjects or [], issuer)
    key = certs[0].public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UntrustedIssuer("x5c leaf key type is not supported", code="x5c_not_trusted")
    return key


def _bad_x5c() -> x509.Certificate:
    raise UntrustedIssuer("x5c entry is not a string", code="x5c_malformed")


def _require_issuer_name(names: Sequence[x509.GeneralName], issuer: str) -> None:
    host = urlsplit(issuer).hostname
    for name in names:
        if isinstance(name, x509.UniformResourceIdentifier) and name.value == issuer:
            return
        if isinstance(name, x509.DNSName) and host and name.value.lower() == host.lower():
            return
    raise UntrustedIssuer("x5c leaf certificate does not name the issuer", code="x5c_wrong_issuer")
