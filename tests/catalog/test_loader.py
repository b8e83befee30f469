"""Loading type files: a new type is a new file; every malformed file is refused clearly."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from elicense.catalog import load_catalog
from elicense.catalog.loader import DEFAULT_DIRECTORY
from elicense.errors import ConfigError

Doc = dict[str, Any]


def _builtin(type_id: str) -> Doc:
    data: Doc = json.loads((DEFAULT_DIRECTORY / f"{type_id}.json").read_text("utf-8"))
    return data


def _write(directory: Path, doc: Doc, name: str | None = None) -> Path:
    path = directory / f"{name or doc['id']}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


def _fishing_licence() -> Doc:
    doc = _builtin("health_card")
    doc.update(
        id="fishing_licence",
        source="person",
        display={
            "name": {"zh-CN": "钓鱼证", "en": "Fishing licence"},
            "description": {"zh-CN": "测试用", "en": "A type that needs no code"},
        },
        claims=[
            {
                "name": "name",
                "type": "string",
                "sd": True,
                "label": {"zh-CN": "姓名", "en": "Name"},
                "source": "holder.name_zh",
            },
            {
                "name": "waters",
                "type": "string",
                "sd": True,
                "label": {"zh-CN": "水域", "en": "Waters"},
                "source": "licence.waters",
            },
        ],
        revoked_by=[{"event": "person.updated", "when_changed": ["name_zh"]}],
        policy={"rules": [{"sector": "local_authority", "claims": ["name", "waters"]}]},
    )
    return doc


def test_a_new_type_needs_only_a_new_file(tmp_path: Path) -> None:
    for type_id in ("marriage_license", "resident_id"):
        _write(tmp_path, _builtin(type_id))
    _write(tmp_path, _fishing_licence())
    catalog = load_catalog(tmp_path, base_url="https://issuer.example")
    fishing = catalog.get("fishing_licence")
    assert fishing.vct == "https://issuer.example/vct/fishing_licence"
    assert fishing.claim("waters").label.get("en") == "Waters"
    assert fishing.policy.permits("local_authority", None, ["waters"])
    assert [t.id for t in catalog] == ["fishing_licence", "marriage_license", "resident_id"]


def test_a_file_may_pin_its_vct(tmp_path: Path) -> None:
    doc = _fishing_licence()
    doc["vct"] = "urn:cn:gov:vct:fishing_licence:1"
    _write(tmp_path, doc)
    catalog = load_catalog(tmp_path)
    assert catalog.by_vct("urn:cn:gov:vct:fishing_licence:1").id == "fishing_licence"


def _set(path: str, value: object) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()
_SPOUSE = "claims/5"


def _duplicate_claim(doc: Doc) -> None:
    doc["claims"].append(copy.deepcopy(doc["claims"][0]))


def _duplicate_member(doc: Doc) -> None:
    doc["claims"][5]["claims"].append(copy.deepcopy(doc["claims"][5]["claims"][0]))


def _validity_claim(sd: bool, claim_type: str = "date") -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["claims"].append(
            {
                "name": "valid_until",
                "type": claim_type,
                "sd": sd,
                "validity": True,
                "label": {"zh-CN": "有效期至", "en": "Valid until"},
                "source": "marriage.valid_until",
            }
        )

    return mutate


MUTATIONS = [
    ("unknown_top_level_key", _set("colour", "red"), "colour: unknown key"),
    ("missing_authority", _set("authority", _DELETE), "authority: missing"),
    ("unknown_claim_key", _set("claims/0/hint", "x"), "claims[0].hint: unknown key"),
    ("sd_not_boolean", _set("claims/0/sd", "yes"), "claims[0].sd: expected a boolean"),
    ("sd_as_integer", _set("claims/0/sd", 1), "claims[0].sd: expected a boolean"),
    ("unknown_claim_type", _set("claims/1/type", "datetime"), "claims[1].type: 'datetime'"),
    ("claims_not_a_list", _set("claims", {}), "claims: expected a list"),
    ("no_claims", _set("claims", []), "claims: must declare at least one claim"),
    ("duplicate_claim_name", _duplicate_claim, "claims[6].name: duplicate claim name"),
    ("duplicate_member_name", _duplicate_member, "claims[5].claims[6].name: duplicate"),
    ("validity_claim_disclosable", _validity_claim(True), "a validity claim can never be"),
    ("validity_claim_not_a_date", _validity_claim(False, "string"), "must be a date"),
    ("reserved_claim_name", _set("claims/0/name", "exp"), "'exp' is set by the issuer"),
    ("bad_claim_name", _set("claims/0/name", "Certificate No"), "lower_snake_case"),
    ("id_differs_from_file", _set("id", "marriage"), "id: 'marriage' must equal the file name"),
    ("duration_in_years", _set("validity", "P5Y"), "validity: 'P5Y' is not an ISO 8601"),
    ("zero_duration", _set("validity", "PT0S"), "validity: must be positive"),
    ("bare_duration", _set("validity", "P"), "validity: 'P' is not an ISO 8601"),
    ("unknown_format", _set("formats", ["jwt_vc_json"]), "formats[0]: 'jwt_vc_json'"),
    ("no_format", _set("formats", []), "formats: must name at least one format"),
    ("duplicate_format", _set("formats", ["dc+sd-jwt", "dc+sd-jwt"]), "has duplicates"),
    ("label_without_en", _set("claims/0/label/en", _DELETE), "claims[0].label.en: missing"),
    ("empty_label", _set("claims/0/label/zh-CN", " "), "label.zh-CN: must not be empty"),
    ("unknown_source_kind", _set("source", "divorce"), "source: 'divorce' is not one of"),
    ("claim_without_source", _set("claims/0/source", _DELETE), "claims[0].source: missing"),
    ("object_without_members", _set(f"{_SPOUSE}/claims", _DELETE), "must list its member"),
    ("string_with_members", _set("claims/0/claims", []), "only an object claim has member"),
    ("unknown_sector", _set("policy/rules/0/sector", "casino"), "'casino' is not one of"),
    ("policy_unknown_claim", _set("policy/rules/0/claims/0", "salary"), "'salary' is not a"),
    ("region_only_without_claim", _set("policy/same_region_only", True), "region_claim: required"),
    ("region_claim_unknown", _set("policy/region_claim", "region"), "'region' is not a declared"),
    ("bad_event", _set("revoked_by/0/event", "divorce"), "revoked_by[0].event: 'divorce'"),
    ("event_of_unknown_kind", _set("revoked_by/0/event", "car.sold"), "'car.sold' is not"),
    ("when_changed_not_list", _set("revoked_by/1/when_changed", "name_zh"), "expected a list"),
    ("bad_vct", _set("vct", "marriage_license"), "vct: expected an https:// URL or a urn:"),
    ("authority_key_missing", _set("authority/signing_key", _DELETE), "signing_key: missing"),
    ("display_not_object", _set("display", "Marriage"), "display: expected an object"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [pytest.param(m, msg, id=name) for name, m, msg in MUTATIONS]
)
def test_malformed_file_is_refused_naming_file_and_field(
    tmp_path: Path, mutate: Callable[[Doc], None], message: str
) -> None:
    doc = _builtin("marriage_license")
    mutate(doc)
    _write(tmp_path, doc, name="marriage_license")
    with pytest.raises(ConfigError) as excinfo:
        load_catalog(tmp_path)
    assert excinfo.value.instance_code == "catalog_invalid"
    assert str(excinfo.value).startswith("marriage_license.json: ")
    assert message in str(excinfo.value)


def test_duplicate_json_key_is_refused(tmp_path: Path) -> None:
    text = json.dumps(_builtin("marriage_license"), ensure_ascii=False)
    text = text.replace('"id": "marriage_license"', '"id": "marriage_license", "id": "x"', 1)
    (tmp_path / "marriage_license.json").write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=r"marriage_license.json: id: duplicate JSON key"):
        load_catalog(tmp_path)


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"id": ', "utf-8")
    with pytest.raises(ConfigError, match=r"broken.json: not valid JSON"):
        load_catalog(tmp_path)


def test_two_types_with_one_vct_are_refused(tmp_path: Path) -> None:
    first, second = _fishing_licence(), _fishing_licence()
    second["id"] = "fishing_licence_b"
    first["vct"] = second["vct"] = "urn:x:same"
    _write(tmp_path, first)
    _write(tmp_path, second)
    with pytest.raises(ConfigError, match=r"fishing_licence_b.json: vct: already used"):
        load_catalog(tmp_path)


def test_empty_or_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no types"):
        load_catalog(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
