"""Health card and travel pass: issued from the registry's enrolment / permit records,
refused without one, revoked by the life-event processor when the record is cancelled;
a travel pass never outlives its endorsement (both backends)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from issuance_helpers import BASE_URL, Holder, TestClient, identity_check, new_person
from test_issuance_flow import status_keys, trust_from

from elicense import clock
from elicense.catalog import Catalog
from elicense.errors import CredentialRevoked
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.issuance import events
from elicense.registry import health, travel
from elicense.registry.types import Sex
from elicense.runtime import Runtime
from elicense.status.check import check_status
from elicense.status.token_status_list import Status

CHINA = dt.timezone(dt.timedelta(hours=8))


def new_citizen(runtime: Runtime) -> str:
    with runtime.db.transaction() as session:
        return new_person(session, runtime.sealer, Sex.FEMALE, "林小雨", "Lin Xiaoyu").id


def offer(runtime: Runtime, client: TestClient, person_id: str, config: str) -> Any:
    with runtime.db.transaction() as session:
        vid = identity_check(session, runtime.sealer, person_id)
    body = {"verified_identity_id": vid, "credential_configuration_ids": [config]}
    return client.post("/issuance/offers", json=body)


def issue(runtime: Runtime, client: TestClient, person_id: str, config: str) -> str:
    offered = offer(runtime, client, person_id, config)
    assert offered.status_code == 201, offered.text
    holder = Holder(client)
    token = holder.token(offered.json()["credential_offer"])
    body = {
        "credential_configuration_id": config,
        "proofs": {"jwt": [holder.proof(holder.nonce())]},
    }
    response = holder.credential_response(token, body)
    assert response.status_code == 200, response.text
    return str(response.json()["credentials"][0]["credential"])


def claims_of(client: TestClient, credential: str) -> dict[str, Any]:
    verified = verify_credential(credential, trust=trust_from(client), policy=CredentialPolicy())
    return dict(verified.claims)


def status_of(client: TestClient, credential: str) -> Status | str:
    """The credential's status on the published, signature-checked status list."""
    verified = verify_credential(credential, trust=trust_from(client), policy=CredentialPolicy())
    assert verified.status is not None
    token = client.get(verified.status.uri.removeprefix(BASE_URL)).content
    claim = {"status_list": {"idx": verified.status.idx, "uri": verified.status.uri}}
    try:
        return check_status(token, claim, status_keys(client))
    except CredentialRevoked:
        return "revoked"


def catalog_of(runtime: Runtime) -> Catalog:
    assert runtime.catalog is not None
    return runtime.catalog


def enrol(runtime: Runtime, person_id: str) -> str:
    with runtime.db.transaction() as session:
        return health.enroll_health(
            session,
            person_id,
            card_number="HZ3301060012345",
            insured_region="330106",
            scheme="urban_employee",
            enrolled_on=dt.date(2020, 1, 15),
        ).id


def endorsement(days: int, entries: int = 2) -> travel.Endorsement:
    today = clock.today()
    return travel.Endorsement("tourism", entries, today, today + dt.timedelta(days=days))


def permit_for(runtime: Runtime, person_id: str, endorsed: travel.Endorsement) -> str:
    with runtime.db.transaction() as session:
        return travel.issue_travel_permit(
            session, person_id, number="CA1234567", endorsement=endorsed
        ).id


def end_of(day: dt.date) -> int:
    """The first second after ``day`` (a civil date, UTC+8)."""
    return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA).timestamp())


# --- health card ----------------------------------------------------------------------------


def test_health_card_carries_the_enrolment(runtime: Runtime, client: TestClient) -> None:
    person = new_citizen(runtime)
    enrol(runtime, person)
    claims = claims_of(client, issue(runtime, client, person, "health_card"))
    assert claims["vct"].endswith("/vct/health_card")
    assert claims["card_number"] == "HZ3301060012345"
    assert claims["insured_region"] == "330106"
    assert claims["insurance_scheme"] == "urban_employee"
    assert claims["enrolled_on"] == "2020-01-15"
    assert claims["name"] == "林小雨"


def test_health_card_refused_without_enrolment(runtime: Runtime, client: TestClient) -> None:
    refused = offer(runtime, client, new_citizen(runtime), "health_card")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "credential_request_denied"
    assert refused.json()["code"] == "not_enrolled"


def test_cancelled_enrolment_revokes_the_health_card(runtime: Runtime, client: TestClient) -> None:
    person = new_citizen(runtime)
    enrolment = enrol(runtime, person)
    card = issue(runtime, client, person, "health_card")
    events.process_pending(runtime.db, catalog_of(runtime))  # registration: no effect
    assert status_of(client, card) is Status.VALID
    with runtime.db.transaction() as session:
        health.cancel_health_enrollment(session, enrolment)
    outcomes = events.process_pending(runtime.db, catalog_of(runtime))
    assert [o.event_type for o in outcomes] == ["health_enrollment.cancelled"]
    assert len(outcomes[0].revoked) == 1
    assert status_of(client, card) == "revoked"
    refused = offer(runtime, client, person, "health_card")
    assert refused.json()["code"] == "not_enrolled"


# --- travel pass ----------------------------------------------------------------------------


def test_travel_pass_carries_the_endorsement(runtime: Runtime, client: TestClient) -> None:
    person = new_citizen(runtime)
    endorsed = endorsement(days=30, entries=2)
    permit_for(runtime, person, endorsed)
    claims = claims_of(client, issue(runtime, client, person, "travel_pass"))
    assert claims["vct"].endswith("/vct/travel_pass")
    assert claims["permit_number"] == "CA1234567"
    assert claims["endorsement_type"] == "tourism"
    assert claims["permitted_entries"] == 2
    assert claims["valid_from"] == endorsed.valid_from.isoformat()
    assert claims["valid_until"] == endorsed.valid_until.isoformat()
    assert claims["name_latin"] == "Lin Xiaoyu"


def test_travel_pass_refused_without_permit(runtime: Runtime, client: TestClient) -> None:
    refused = offer(runtime, client, new_citizen(runtime), "travel_pass")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "credential_request_denied"
    assert refused.json()["code"] == "no_permit"


def test_travel_pass_refused_with_expired_endorsement(runtime: Runtime, client: TestClient) -> None:
    person = new_citizen(runtime)
    today = clock.today()
    past = travel.Endorsement(
        "tourism", 1, today - dt.timedelta(days=30), today - dt.timedelta(days=1)
    )
    permit_for(runtime, person, past)
    refused = offer(runtime, client, person, "travel_pass")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "no_permit"


def test_cancelled_permit_revokes_the_travel_pass(runtime: Runtime, client: TestClient) -> None:
    person = new_citizen(runtime)
    permit = permit_for(runtime, person, endorsement(days=30))
    travel_pass = issue(runtime, client, person, "travel_pass")
    events.process_pending(runtime.db, catalog_of(runtime))  # issue: no effect
    assert status_of(client, travel_pass) is Status.VALID
    with runtime.db.transaction() as session:
        travel.cancel_travel_permit(session, permit)
    outcomes = events.process_pending(runtime.db, catalog_of(runtime))
    assert [o.event_type for o in outcomes] == ["travel_permit.cancelled"]
    assert len(outcomes[0].revoked) == 1
    assert status_of(client, travel_pass) == "revoked"
    assert offer(runtime, client, person, "travel_pass").json()["code"] == "no_permit"


def test_travel_pass_expires_with_its_endorsement(runtime: Runtime, client: TestClient) -> None:
    """The catalogue says 90 days; an endorsement ending in 10 caps ``exp`` at its end."""
    person = new_citizen(runtime)
    endorsed = endorsement(days=10)
    permit_for(runtime, person, endorsed)
    claims = claims_of(client, issue(runtime, client, person, "travel_pass"))
    assert claims["exp"] <= end_of(endorsed.valid_until)
    assert claims["exp"] > clock.epoch() + 9 * 86400  # capped, not cut short


def test_travel_pass_keeps_catalogue_validity_within_a_long_endorsement(
    runtime: Runtime, client: TestClient
) -> None:
    person = new_citizen(runtime)
    permit_for(runtime, person, endorsement(days=365))
    claims = claims_of(client, issue(runtime, client, person, "travel_pass"))
    assert claims["exp"] - claims["iat"] == 90 * 86400
