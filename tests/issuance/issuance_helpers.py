"""Test-side helpers: registry facts, an identity check, and a tiny OpenID4VCI holder."""

from __future__ import annotations

import datetime as dt
import secrets
import warnings
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy.orm import Session

from elicense import clock
from elicense.crypto import _json, jws
from elicense.crypto.keystore import LocalSigner
from elicense.issuance.jwt_proofs import token_hash_b64
from elicense.proofing import service as proofing
from elicense.registry import resident_id
from elicense.registry import service as registry
from elicense.registry.types import Actor, PersonRecord, Role, Sex
from elicense.runtime import Runtime
from elicense.storage.sealing import Sealer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

BASE_URL = "https://issuer.example.gov.cn"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
REGISTRAR = Actor("clk_test", Role.REGISTRAR, "registrar")


def new_person(
    session: Session, sealer: Sealer, sex: Sex, name_zh: str, name_latin: str
) -> PersonRecord:
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=secrets.randbelow(10_000))
    number = resident_id.generate(region="330106", birth_date=birth, sex=sex)
    new = registry.NewPerson(
        id_number=number, name_zh=name_zh, name_latin=name_latin, sex=sex, birth_date=birth
    )
    return registry.create_person(session, sealer, new)


def ensure_office(session: Session) -> str:
    try:
        registry.get_office(session, "HZSC")
    except Exception:  # noqa: BLE001
        registry.create_office(
            session, code="HZSC", name="杭州市上城区民政局婚姻登记处", region="330106"
        )
    return "HZSC"


def married_couple(session: Session, sealer: Sealer) -> tuple[PersonRecord, PersonRecord, str]:
    a = new_person(session, sealer, Sex.MALE, "王磊", "Wang Lei")
    b = new_person(session, sealer, Sex.FEMALE, "李娜", "Li Na")
    marriage = registry.register_marriage(
        session, office_code=ensure_office(session), spouse_ids=(a.id, b.id)
    )
    return a, b, marriage.id


def identity_check(session: Session, sealer: Sealer, person_id: str) -> str:
    return proofing.record_in_person_check(session, sealer, person_id, actor=REGISTRAR).id


def new_key(alg: str = "ES256") -> LocalSigner:
    if alg == "EdDSA":
        return LocalSigner(ed25519.Ed25519PrivateKey.generate())
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def self_signed(signer: LocalSigner, typ: str, claims: dict[str, Any], **header: Any) -> str:
    full = {"typ": typ, "jwk": signer.public_jwk, **header}
    return jws.sign_compact(full, _json.dumps(claims), signer, add_kid=False)


class Holder:
    """A tiny OpenID4VCI holder over a test client (the real wallet is in ``wallet/``)."""

    def __init__(self, client: TestClient, base_url: str = BASE_URL) -> None:
        self.client = client
        self.base_url = base_url
        self.dpop_key = new_key()

    def dpop(
        self,
        path: str,
        *,
        access_token: str | None = None,
        method: str = "POST",
        key: LocalSigner | None = None,
        **overrides: Any,
    ) -> str:
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(12),
            "htm": method,
            "htu": self.base_url + path,
            "iat": clock.epoch(),
        }
        if access_token is not None:
            claims["ath"] = token_hash_b64(access_token)
        claims.update(overrides)
        return self_signed(key or self.dpop_key, "dpop+jwt", claims)

    def token_response(self, code: str, tx_code: str | None = None, dpop: str | None = None) -> Any:
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        headers = {"DPoP": dpop or self.dpop("/issuance/token")}
        return self.client.post("/issuance/token", data=form, headers=headers)

    def token(self, offer: dict[str, Any], tx_code: str | None = None) -> str:
        code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
        response = self.token_response(code, tx_code)
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"
        return str(response.json()["access_token"])

    def nonce(self) -> str:
        response = self.client.post("/issuance/nonce")
        assert response.status_code == 200, response.text
        return str(response.json()["c_nonce"])

    def proof(self, nonce: str | None, key: LocalSigner | None = None, **overrides: Any) -> str:
        claims: dict[str, Any] = {"aud": self.base_url, "iat": clock.epoch()}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        return self_signed(key or new_key(), "openid4vci-proof+jwt", claims)

    def credential_response(
        self,
        access_token: str,
        body: dict[str, Any],
        dpop: str | None = None,
        url: str = "/issuance/credential",
    ) -> Any:
        headers = {
            "Authorization": f"DPoP {access_token}",
            "DPoP": dpop or self.dpop("/issuance/credential", access_token=access_token),
        }
        return self.client.post(url, json=body, headers=headers)


def issue_marriage_license(runtime: Runtime, client: TestClient, holder: Holder) -> str:
    """A marriage license issued over HTTP to a new couple's first spouse (the SD-JWT VC)."""
    with runtime.db.transaction() as session:
        a, _b, _marriage = married_couple(session, runtime.sealer)
        vid = identity_check(session, runtime.sealer, a.id)
    body = {"verified_identity_id": vid, "credential_configuration_ids": ["marriage_license"]}
    offer = client.post("/issuance/offers", json=body)
    assert offer.status_code == 201, offer.text
    token = holder.token(offer.json()["credential_offer"])
    proof = {"jwt": [holder.proof(holder.nonce())]}
    request = {"credential_configuration_id": "marriage_license", "proofs": proof}
    response = holder.credential_response(token, request)
    assert response.status_code == 200, response.text
    return str(response.json()["credentials"][0]["credential"])
