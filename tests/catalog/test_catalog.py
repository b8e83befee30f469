"""The built-in catalogue: lookups, disclosure rules, policy and revocation triggers."""

from __future__ import annotations

import datetime as dt

import pytest

from elicense.catalog import Catalog, ClaimType, SourceKind, load_catalog
from elicense.errors import Forbidden, NotFound

TYPES = ("health_card", "marriage_license", "resident_id", "travel_pass")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_type_loads_in_id_order(catalog: Catalog) -> None:
    assert [t.id for t in catalog] == list(TYPES)
    assert len(catalog) == 4
    assert "marriage_license" in catalog
    assert "driving_licence" not in catalog


def test_vct_is_derived_from_the_base_url(catalog: Catalog) -> None:
    vct = "https://elicense.example.gov.cn/vct/marriage_license"
    assert catalog.get("marriage_license").vct == vct
    local = load_catalog(base_url="http://127.0.0.1:8000/")
    assert local.get("resident_id").vct == "http://127.0.0.1:8000/vct/resident_id"


def test_lookup_by_vct(catalog: Catalog) -> None:
    for credential_type in catalog:
        assert catalog.by_vct(credential_type.vct) is credential_type


def test_unknown_type_is_not_found_with_a_stable_code(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as excinfo:
        catalog.get("driving_licence")
    assert excinfo.value.instance_code == "unknown_credential_type"
    with pytest.raises(NotFound) as excinfo:
        catalog.by_vct("https://elsewhere.example/vct/x")
    assert excinfo.value.instance_code == "unknown_credential_type"


def test_types_name_their_authority_source_and_format(catalog: Catalog) -> None:
    expected = {
        "marriage_license": ("civil_affairs", SourceKind.MARRIAGE),
        "resident_id": ("public_security", SourceKind.PERSON),
        "health_card": ("health_commission", SourceKind.HEALTH_ENROLLMENT),
        "travel_pass": ("exit_entry", SourceKind.TRAVEL_PERMIT),
    }
    for credential_type in catalog:
        authority, source = expected[credential_type.id]
        assert credential_type.authority.id == authority
        assert credential_type.authority.signing_key == authority
        assert credential_type.source is source
        assert credential_type.formats == ("dc+sd-jwt",)
        assert credential_type.display.name.zh_cn
        assert credential_type.display.name.en
        assert credential_type.authority.name.get("zh-CN") != credential_type.authority.name.get(
            "en"
        )


def test_resident_id_is_short_lived(catalog: Catalog) -> None:
    assert catalog.get("resident_id").validity <= dt.timedelta(days=7)
    issued = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert catalog.get("resident_id").expires_at(issued) == issued + dt.timedelta(days=7)


def test_marriage_license_claims(catalog: Catalog) -> None:
    license_type = catalog.get("marriage_license")
    paths = {c.path for c in license_type.all_claims()}
    for person in ("holder", "spouse"):
        for field in ("name", "sex", "birth_date", "nationality", "id_number"):
            assert f"{person}.{field}" in paths
    for path in ("certificate_number", "registration_date", "registration_office"):
        assert path in paths
    assert "marital_status" in paths
    assert license_type.claim("registration_date").type is ClaimType.DATE
    assert license_type.claim("spouse.id_number").source == "spouse.id_number"
    assert all(c.selectively_disclosable for c in license_type.all_claims() if not c.validity)


def test_unknown_claim_path(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as excinfo:
        catalog.get("marriage_license").claim("spouse.shoe_size")
    assert excinfo.value.instance_code == "unknown_claim"


def test_validity_claims_are_never_selectively_disclosable(catalog: Catalog) -> None:
    travel = catalog.get("travel_pass")
    validity = [c for c in travel.all_claims() if c.validity]
    assert {c.name for c in validity} == {"valid_from", "valid_until"}
    assert not any(c.selectively_disclosable for c in validity)
    assert travel.claim("permitted_entries").type is ClaimType.INTEGER
    for credential_type in catalog:
        for claim in credential_type.all_claims():
            assert not (claim.validity and claim.selectively_disclosable)


def test_hotel_may_ask_resident_id_name_number_photo_but_not_marriage(catalog: Catalog) -> None:
    resident = catalog.get("resident_id")
    assert resident.policy.same_region_only
    assert resident.policy.region_claim == "issuing_region"
    resident.check_request("hotel", None, ["name", "id_number", "photo"])
    with pytest.raises(Forbidden) as excinfo:
        resident.check_request("hotel", None, ["birth_date"])
    assert excinfo.value.instance_code == "claims_not_permitted"
    with pytest.raises(Forbidden):
        catalog.get("marriage_license").check_request("hotel", None, ["holder.name"])


def test_bank_may_ask_marital_status_and_spouse_for_a_mortgage_only(catalog: Catalog) -> None:
    license_type = catalog.get("marriage_license")
    license_type.check_request("bank", "mortgage", ["marital_status", "spouse.name"])
    license_type.check_request("bank", "mortgage", ["spouse.id_number"])
    assert not license_type.policy.permits("bank", "car_loan", ["marital_status"])
    assert not license_type.policy.permits("bank", "mortgage", ["spouse.birth_date"])


def test_an_allowed_object_covers_its_members(catalog: Catalog) -> None:
    license_type = catalog.get("marriage_license")
    assert license_type.policy.permits("civil_affairs", None, ["spouse.birth_date", "holder"])
    assert not license_type.policy.permits("real_estate", None, ["spouse"])


def test_unknown_sector_may_ask_nothing(catalog: Catalog) -> None:
    for credential_type in catalog:
        assert credential_type.policy.allowed_claims("casino") == frozenset()


def test_divorce_revokes_marriage_licenses_only(catalog: Catalog) -> None:
    assert [t.id for t in catalog.revoked_by("marriage.dissolved")] == ["marriage_license"]


def test_name_change_revokes_but_other_updates_do_not(catalog: Catalog) -> None:
    license_type = catalog.get("marriage_license")
    assert license_type.is_revoked_by("person.updated", ["name_zh"])
    assert not license_type.is_revoked_by("person.updated", ["household_region"])
    assert catalog.get("resident_id").is_revoked_by("person.updated", ["household_region"])
    assert [t.id for t in catalog.revoked_by("person.updated", ["name_latin"])] == [
        "marriage_license",
        "resident_id",
        "travel_pass",
    ]
