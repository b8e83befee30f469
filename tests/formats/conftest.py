"""Shared fixtures for the format tests: real keys generated per test session."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList, single_issuer

ISSUER = "https://civil-affairs.example.gov.cn"
VCT = "https://credentials.example.gov.cn/marriage_license"


def marriage_claims() -> dict[str, Any]:
    return {
        "license_number": "ML-2025-000123",
        "given_name": "李",
        "family_name": "伟",
        "birthdate": "1990-02-03",
        "resident_id_last4": "123X",
        "spouse_given_name": "张",
        "spouse_family_name": "敏",
        "spouse_birthdate": "1991-05-06",
        "marriage_date": "2025-10-01",
        "registration_office": "东城区民政局",
        "registration_number": "J110101-2025-000042",
        "place_of_registration": {"province": "北京市", "district": "东城区"},
        "nationalities": ["CN"],
    }


#: The 12 selectively disclosable claims of the marriage license.
SD_PATHS = [(k,) for k in marriage_claims() if k != "license_number"]


@pytest.fixture
def license_claims() -> dict[str, Any]:
    return marriage_claims()


@pytest.fixture(scope="session")
def issuer_signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def holder_signer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def trust(issuer_signer: LocalSigner) -> TrustList:
    return single_issuer(ISSUER, [{**issuer_signer.public_jwk, "kid": issuer_signer.kid}])
