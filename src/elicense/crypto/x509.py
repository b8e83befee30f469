"""The issuer's X.509 hierarchy: an issuing CA and document-signer certificates.

``elicense keys init`` makes a self-signed issuing CA (the trust anchor that verifiers
configure) and, for each signing key, a document-signer (DS) certificate naming the
issuer URL in its subjectAltName. Credentials may carry the DS chain as ``x5c``;
:func:`verify_x5c` accepts it only if it chains to a configured anchor.

The CA key may be an in-memory private key or any ES256 :class:`Signer` (a key in an
HSM): ``cryptography`` cannot sign a certificate with a key it does not hold, so the
to-be-signed part is built by ``cryptography`` and signed by the signer, and the
certificate is assembled from the two (:func:`_sign_with_signer`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
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
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.keystore import Signer
from elicense.errors import CryptoError, UnsupportedAlgorithm, UntrustedIssuer

CA_DAYS = 3650
DS_DAYS = 1095
_MAX_X5C = 4
_ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")  # AlgorithmIdentifier DER

CertKey = algorithms.PrivateKey | Signer
"""What signs a certificate: a private key in memory or a signer (e.g. in an HSM)."""


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
    return key, issuing_ca_certificate(key, common_name, organization=organization, days=days)


def issuing_ca_certificate(
    key: CertKey, common_name: str, *, organization: str = "eLicense", days: int = CA_DAYS
) -> x509.Certificate:
    """The self-signed issuing CA certificate (path length 0) of ``key``."""
    public_key = _public_key_of(key)
    name = _name(common_name, organization)
    now = clock.now()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return _sign(builder, key, public_key)


def issue_document_signer(
    ca_key: CertKey,
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
    builder = (
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
    )
    ca_public = ca_cert.public_key()
    if not isinstance(ca_public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnsupportedAlgorithm("the CA certificate's key type is not supported")
    return _sign(builder, ca_key, ca_public)


def issuer_url_of(cert: x509.Certificate) -> str | None:
    """The issuer URL a document-signer certificate names (its first SAN URI), if any."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _public_key_of(key: CertKey) -> algorithms.PublicKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return load_public_jwk(key.public_jwk)


def _sign(
    builder: x509.CertificateBuilder, key: CertKey, issuer_public: algorithms.PublicKey
) -> x509.Certificate:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return builder.sign(key, _hash_for(key))
    return _sign_with_signer(builder, key, issuer_public)


def _sign_with_signer(
    builder: x509.CertificateBuilder, signer: Signer, issuer_public: algorithms.PublicKey
) -> x509.Certificate:
    """Sign the certificate's TBS part with ``signer`` (ES256) and assemble the DER.

    The draft is signed with a throw-away P-256 key only to obtain the TBS bytes: they
    name the signature algorithm (ecdsa-with-SHA256) but no signing key, so the draft's
    signature is replaced by ``signer``'s; the result is checked against the issuer key.
    """
    if signer.alg != algorithms.ES256:
        raise UnsupportedAlgorithm("certificates are signed through a signer with ES256 only")
    draft = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    signature = algorithms.raw_to_der(signer.sign(tbs))
    der = _der(0x30, tbs + _ECDSA_WITH_SHA256 + _der(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(der)
    if not isinstance(issuer_public, ec.EllipticCurvePublicKey):
        raise UnsupportedAlgorithm("an ES256 signer needs a P-256 issuer key")
    try:
        issuer_public.verify(cert.signature, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise CryptoError(
            "the signer's certificate signature does not verify under the issuer key",
            code="certificate_signature_invalid",
        ) from exc
    return cert


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


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
