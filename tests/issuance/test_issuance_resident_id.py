"""The resident digital ID (catalogue source ``person``) issues end to end."""

from __future__ import annotations

from issuance_helpers import Holder, TestClient, identity_check, new_person
from test_issuance_flow import trust_from

from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.registry.types import Sex
from elicense.runtime import Runtime


def test_resident_id_carries_the_holders_identity(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    with runtime.db.transaction() as session:
        person = new_person(session, runtime.sealer, Sex.FEMALE, "林小雨", "Lin Xiaoyu")
        vid = identity_check(session, runtime.sealer, person.id)
    offer = client.post(
        "/issuance/offers",
        json={"verified_identity_id": vid, "credential_configuration_ids": ["resident_id"]},
    )
    assert offer.status_code == 201, offer.text
    token = holder.token(offer.json()["credential_offer"])
    body = {
        "credential_configuration_id": "resident_id",
        "proofs": {"jwt": [holder.proof(holder.nonce())]},
    }
    response = holder.credential_response(token, body)
    assert response.status_code == 200, response.text
    credential = response.json()["credentials"][0]["credential"]
    claims = verify_credential(
        credential, trust=trust_from(client), policy=CredentialPolicy()
    ).claims
    assert claims["name"] == "林小雨"
    assert claims["id_number"] == person.id_number
    assert claims["issuing_region"] == "330106"
    assert claims["vct"].endswith("/vct/resident_id")
