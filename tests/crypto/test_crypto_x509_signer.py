"""Certificates signed through a :class:`Signer` (how an HSM-held CA key signs)."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense.crypto import x509 as chain
from elicense.crypto.jwk import public_jwk
from elicense.crypto.keystore import LocalSigner
from elicense.errors import CryptoError, UnsupportedAlgorithm

ISS = "https://issuer.example.gov.cn"


@dataclasses.dataclass(frozen=True)
class OpaqueSigner:
    """A signer that is not a private key object (as an HSM key is not)."""

    inner: LocalSigner
    signs_with: LocalSigner | None = None  # a different key: a misbehaving token

    @property
    def kid(self) -> str:
        return self.inner.kid

    @property
    def alg(self) -> str:
        return self.inner.alg

    @property
    def public_jwk(self) -> dict[str, str]:
        return self.inner.public_jwk

    @property
    def x5c(self) -> tuple[str, ...]:
        return ()

    def sign(self, data: bytes) -> bytes:
        return (self.signs_with or self.inner).sign(data)


def _p256() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def test_a_signer_makes_a_ca_and_document_signer_chain_that_verifies() -> None:
    ca = OpaqueSigner(_p256())
    ca_cert = chain.issuing_ca_certificate(ca, "Opaque Issuing CA")
    ca_cert.verify_directly_issued_by(ca_cert)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = chain.issue_document_signer(ca, ca_cert, leaf_key.public_key(), issuer_url=ISS)
    leaf.verify_directly_issued_by(ca_cert)
    verified = chain.verify_x5c(list(chain.to_x5c([leaf, ca_cert])), [ca_cert], issuer=ISS)
    assert public_jwk(verified) == public_jwk(leaf_key.public_key())


def test_a_signature_from_another_key_is_caught() -> None:
    ca = OpaqueSigner(_p256())
    ca_cert = chain.issuing_ca_certificate(ca, "Opaque Issuing CA")
    wrong = OpaqueSigner(ca.inner, signs_with=_p256())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CryptoError) as caught:
        chain.issue_document_signer(wrong, ca_cert, leaf_key.public_key(), issuer_url=ISS)
    assert caught.value.instance_code == "certificate_signature_invalid"
    with pytest.raises(CryptoError):
        chain.issuing_ca_certificate(wrong, "Opaque Issuing CA")


def test_only_es256_signers_sign_certificates() -> None:
    eddsa = OpaqueSigner(LocalSigner(ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(UnsupportedAlgorithm):
        chain.issuing_ca_certificate(eddsa, "EdDSA CA")
