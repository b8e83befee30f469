"""Fixtures for the status part: an issuer signer and a signer source."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from elicense.crypto.keystore import LocalSigner, Signer
from elicense.crypto.trust import IssuerKey
from elicense.errors import KeyNotFound

BASE_URL = "https://issuer.example.gov.cn"


@dataclasses.dataclass
class DictSigners:
    """A :class:`~elicense.status.service.SignerSource` over named in-memory signers."""

    signers: dict[str, Signer]

    def signer_for(self, key_name: str) -> Signer:
        try:
            return self.signers[key_name]
        except KeyError:
            raise KeyNotFound(f"no key {key_name}") from None


@pytest.fixture(scope="session")
def issuer_signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def signers(issuer_signer: LocalSigner) -> DictSigners:
    return DictSigners({"civil_affairs": issuer_signer})


@pytest.fixture(scope="session")
def issuer_keys(issuer_signer: LocalSigner) -> list[IssuerKey]:
    public = issuer_signer.private_key.public_key()
    return [IssuerKey(key=public)]
