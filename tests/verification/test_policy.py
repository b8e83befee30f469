"""RP registration and policy: sectors, regions, beyond-registration, over-disclosure,
request objects not from the RP CA."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from verification_support import (
    BANK_USCC,
    HOTEL_GRANT,
    MARRIAGE,
    MORTGAGE_GRANT,
    OTHER_HOTEL_USCC,
    RESIDENT,
    Env,
    create,
    fetch,
    post_vp,
    rejected,
    result,
)

from elicense.crypto.keystore import LocalSigner
from elicense.errors import AccessDenied, ELicenseError
from elicense.formats import sd_jwt
from elicense.verification import dcql, rp_ca, service
from elicense.verification.policy import Grant
from elicense.wallet import openid4vp

Rp = service.Registered


def test_hotel_gets_name_id_number_and_photo_from_resident_id(env: Env, hotel: Rp) -> None:
    held = env.credential("resident_id", RESIDENT)
    created = create(env, hotel, preset="hotel_check_in")
    response = openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    assert response.status_code == 200, response.text
    claims = result(env, hotel, created).json()["credentials"][0]["claims"]
    assert set(claims) == {"name", "id_number", "photo", "issuing_region"}


def test_hotel_may_not_register_for_the_marriage_license(env: Env) -> None:
    grant = Grant("marriage_license", frozenset({"hotel_check_in"}), frozenset({"marital_status"}))
    with pytest.raises(AccessDenied) as excinfo:
        env.register("Hotel", OTHER_HOTEL_USCC, "hotel", "440300", "h.example.com", [grant])
    assert excinfo.value.instance_code == "claims_not_permitted"


def test_hotel_asking_for_the_marriage_license_is_refused(env: Env, hotel: Rp) -> None:
    response = env.client.post(
        "/verification/requests", json={"preset": "mortgage"}, auth=env.auth(hotel)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "beyond_registration"


def test_rp_asking_beyond_registration_is_refused(env: Env, bank: Rp) -> None:
    query = {
        "credentials": [
            {
                "id": "m",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [env.ctx.catalog.get("marriage_license").vct]},
                "claims": [{"path": ["marital_status"]}, {"path": ["holder", "birth_date"]}],
            }
        ]
    }
    response = env.client.post(
        "/verification/requests",
        json={"dcql_query": query, "purpose": "mortgage"},
        auth=env.auth(bank),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "beyond_registration"


def test_rp_asking_for_another_purpose_is_refused(env: Env, bank: Rp) -> None:
    response = env.client.post(
        "/verification/requests",
        json={"preset": "mortgage", "purpose": "car_loan"},
        auth=env.auth(bank),
    )
    assert response.status_code == 403


def test_bank_may_ask_marital_status_and_spouse_for_mortgage(env: Env, bank: Rp) -> None:
    created = create(env, bank, preset="mortgage")
    paths = fetch(env, created).summary()["claims"]["marriage"]
    assert "marital_status" in paths
    assert "spouse.id_number" in paths


def test_resident_id_asked_by_another_region_is_refused(env: Env) -> None:
    far = env.register(
        "Hangzhou Hotel", OTHER_HOTEL_USCC, "hotel", "330100", "hz-hotel.example.com", [HOTEL_GRANT]
    )
    held = env.credential("resident_id", RESIDENT)
    created = create(env, far, preset="hotel_check_in")
    request = fetch(env, created)
    with pytest.raises(AccessDenied) as excinfo:
        openid4vp.choose(request, [held])
    assert excinfo.value.instance_code == "region_mismatch"
    rejected(env, far, created, post_vp(env, created, held), "region_mismatch")


def test_over_disclosure_refused_extra_claims_not_passed_on(env: Env, bank: Rp) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    paths = [
        ("marital_status",),
        ("holder", "name"),
        ("holder", "id_number"),
        ("spouse", "name"),
        ("spouse", "id_number"),
        ("holder", "birth_date"),
    ]
    response = post_vp(env, created, held, paths=paths)
    rejected(env, bank, created, response, "over_disclosure")
    assert "1990-04-01" not in response.text


def test_wallet_refuses_request_beyond_registration(env: Env, bank: Rp) -> None:
    created = create(env, bank)
    request = fetch(env, created)
    vct = env.ctx.catalog.get("marriage_license").vct
    wider = dcql.parse(
        {
            "credentials": [
                {
                    "id": "m",
                    "format": "dc+sd-jwt",
                    "meta": {"vct_values": [vct]},
                    "claims": [{"path": ["holder", "birth_date"]}],
                }
            ]
        }
    )
    with pytest.raises(AccessDenied) as excinfo:
        openid4vp.check_registration(wider, request.registration, "mortgage")
    assert excinfo.value.instance_code == "beyond_registration"


def test_request_object_not_from_the_rp_ca_is_refused(env: Env, bank: Rp) -> None:
    created = create(env, bank)
    other_ca = rp_ca.create("Rogue")
    with pytest.raises(ELicenseError) as excinfo:
        openid4vp.fetch_request(
            created["request_uri"], anchors=[other_ca.certificate], client=env.http()
        )
    assert excinfo.value.instance_code == "rp_ca_untrusted"


def test_request_object_client_id_not_matching_certificate(env: Env, bank: Rp) -> None:
    from elicense.crypto import _json, jws
    from elicense.verification import request_object

    created = create(env, bank)
    token = env.client.get(urlsplit(created["request_uri"]).path).text
    payload = json.loads(jws.decode_compact(token).payload)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = rp_ca.issue_access_certificate(env.ctx.ca, key.public_key(), "evil.example.com", "Evil")
    from elicense.crypto.x509 import to_x5c

    signer = LocalSigner(key, x5c=to_x5c([cert, env.ctx.ca.certificate]))
    forged = request_object.sign(payload, signer)  # client_id still names the bank
    with pytest.raises(ELicenseError) as excinfo:
        request_object.verify(forged, [env.ctx.ca.certificate])
    assert excinfo.value.instance_code == "client_id_mismatch"
    assert _json  # imported for parity with the signer


def test_uscc_is_validated_at_registration(env: Env) -> None:
    with pytest.raises(ELicenseError) as excinfo:
        env.register(
            "Bank", BANK_USCC[:-1] + "0", "bank", "440300", "b.example.com", [MORTGAGE_GRANT]
        )
    assert excinfo.value.instance_code == "uscc_check"


def test_admin_registration_api_shows_the_secret_once(env: Env) -> None:
    body = {
        "name": "Registry",
        "uscc": BANK_USCC,
        "sector": "real_estate_registry",
        "region": "440300",
        "client_host": "registry.example.gov.cn",
        "grants": [
            {
                "credential_type": "marriage_license",
                "purposes": ["real_estate_transfer"],
                "claims": ["marital_status", "certificate_number"],
            }
        ],
    }
    assert env.client.post("/verification/rps", json=body).status_code == 401
    response = env.client.post(
        "/verification/rps", json=body, headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["client_id"] == "x509_san_dns:registry.example.gov.cn"
    assert "BEGIN CERTIFICATE" in created["access_certificate"]
    registration = env.client.get(f"/verification/rps/{created['client_id']}")
    assert registration.status_code == 200
    assert created["client_secret"] not in registration.text
    assert sd_jwt  # the module under test elsewhere


def test_hotel_preset_asks_for_the_photo_only_when_the_id_has_one() -> None:
    from elicense.catalog import load_catalog
    from elicense.verification import policy

    preset = policy.load_presets(load_catalog())["hotel_check_in"]
    (credential,) = preset.query.credentials
    options = credential.options()
    assert [sorted(c.path[0] for c in option) for option in options] == [
        ["id_number", "issuing_region", "name", "photo"],
        ["id_number", "issuing_region", "name"],
    ]
