"""Load the credential catalogue: one strict JSON file per type in ``catalog/types/``.

Adding a credential type means adding a file, not code. Every file is validated
strictly: unknown keys, missing keys, wrong types, duplicate JSON keys, duplicate claim
names, unknown claim paths in a policy, and selectively disclosable validity claims are
all refused with a :class:`~elicense.errors.ConfigError` (code ``catalog_invalid``) that
names the file and the field, e.g. ``marriage_license.json: claims[2].sd: expected a
boolean``.

``vct``: unless a file pins one, a type's ``vct`` is derived at load time from the issuer
base URL as ``{base_url}/vct/{id}`` (an HTTPS URL under the issuer, where SD-JWT VC type
metadata can later be served). Pass the deployment's ``public_base_url``; the default is
the province's canonical issuer URL, so ``vct`` values stay stable across test runs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from elicense.catalog.model import (
    AccessRule,
    Authority,
    Catalog,
    Claim,
    ClaimType,
    CredentialType,
    Display,
    LocalizedText,
    Policy,
    RevocationTrigger,
    SourceKind,
)
from elicense.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DIRECTORY",
    "FORMATS",
    "RESERVED_CLAIMS",
    "SECTORS",
    "Catalog",
    "Claim",
    "ClaimType",
    "CredentialType",
    "load_catalog",
    "load_type",
]

DEFAULT_DIRECTORY = Path(__file__).parent / "types"
DEFAULT_BASE_URL = "https://elicense.example.gov.cn"

#: Credential formats a type may be issued in (more arrive with the mdoc/offline issue).
FORMATS = frozenset({"dc+sd-jwt"})

#: Relying-party sectors a policy may name.
SECTORS = frozenset(
    {
        "bank",
        "real_estate",
        "hotel",
        "rail",
        "local_authority",
        "hospital",
        "border_control",
        "civil_affairs",
    }
)

#: Claims the issuer sets itself (SD-JWT VC, RFC 7519); a type may not declare them.
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "cnf", "vct", "status", "_sd", "_sd_alg"}
)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EVENT = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
_SOURCE_FIELD = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_SOURCE_KINDS = frozenset(kind.value for kind in SourceKind)
_T = TypeVar("_T")


def load_catalog(directory: Path | None = None, *, base_url: str = DEFAULT_BASE_URL) -> Catalog:
    """Load and validate every ``*.json`` type file in ``directory`` (default: built-in)."""
    directory = directory or DEFAULT_DIRECTORY
    if not directory.is_dir():
        raise ConfigError(f"catalogue directory {directory} does not exist", code="catalog_invalid")
    types: dict[str, CredentialType] = {}
    vcts: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        credential_type = load_type(path, base_url=base_url)
        if credential_type.vct in vcts:
            _fail(path.name, "vct", f"already used by {vcts[credential_type.vct]}")
        types[credential_type.id] = credential_type
        vcts[credential_type.vct] = credential_type.id
    if not types:
        raise ConfigError(f"catalogue directory {directory} has no types", code="catalog_invalid")
    return Catalog(types)


def load_type(path: Path, *, base_url: str = DEFAULT_BASE_URL) -> CredentialType:
    """Load one type file; its ``id`` must equal the file name without ``.json``."""
    data = _read_json(path)
    return _Parser(path.name, base_url.rstrip("/")).credential_type(data, path.stem)


def _fail(file: str, where: str, problem: str) -> None:
    raise ConfigError(f"{file}: {where}: {problem}", code="catalog_invalid")


def _read_json(path: Path) -> object:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, item in pairs:
            if key in obj:
                _fail(path.name, key, "duplicate JSON key")
            obj[key] = item
        return obj

    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path.name}: not valid JSON: {exc}", code="catalog_invalid") from exc


class _Parser:
    """Validates one file; every error names the file and the JSON path of the field."""

    def __init__(self, file: str, base_url: str) -> None:
        self.file = file
        self.base_url = base_url

    def fail(self, where: str, problem: str) -> None:
        _fail(self.file, where, problem)

    # --- primitive readers ------------------------------------------------------------

    def obj(
        self, value: object, where: str, required: Iterable[str], optional: Iterable[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "expected an object")
        assert isinstance(value, dict)
        required, optional = set(required), set(optional)
        for key in sorted(value.keys() - required - optional):
            self.fail(_join(where, key), "unknown key")
        for key in sorted(required - value.keys()):
            self.fail(_join(where, key), "missing")
        return value

    def typed(self, value: object, kind: type[_T], where: str, what: str) -> _T:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.fail(where, f"expected {what}")
        assert isinstance(value, kind)
        return value

    def string(self, value: object, where: str) -> str:
        text = self.typed(value, str, where, "a string")
        if not text.strip():
            self.fail(where, "must not be empty")
        return text

    def boolean(self, value: object, where: str) -> bool:
        return self.typed(value, bool, where, "a boolean")

    def identifier(self, value: object, where: str) -> str:
        text = self.string(value, where)
        if not _ID.match(text):
            self.fail(where, f"{text!r} is not a lower_snake_case identifier")
        return text

    def strings(self, value: object, where: str) -> list[str]:
        items = self.typed(value, list, where, "a list")
        result = [self.string(item, f"{where}[{i}]") for i, item in enumerate(items)]
        if len(set(result)) != len(result):
            self.fail(where, "has duplicates")
        return result

    def choice(self, value: object, where: str, parse: Callable[[str], _T], options: str) -> _T:
        text = self.string(value, where)
        try:
            return parse(text)
        except ValueError:
            self.fail(where, f"{text!r} is not one of {options}")
            raise AssertionError("unreachable") from None

    def localized(self, value: object, where: str) -> LocalizedText:
        data = self.obj(value, where, ("zh-CN", "en"))
        return LocalizedText(
            zh_cn=self.string(data["zh-CN"], f"{where}.zh-CN"),
            en=self.string(data["en"], f"{where}.en"),
        )

    # --- sections ---------------------------------------------------------------------

    def credential_type(self, value: object, stem: str) -> CredentialType:
        data = self.obj(
            value,
            "$",
            ("id", "formats", "display", "authority", "validity", "source", "claims"),
            ("$comment", "vct", "revoked_by", "policy"),
        )
        type_id = self.identifier(data["id"], "id")
        if type_id != stem:
            self.fail("id", f"{type_id!r} must equal the file name {stem!r}")
        claims = self.claims(data["claims"], "claims", "")
        paths = {c.path for claim in claims for c in claim.walk()}
        return CredentialType(
            id=type_id,
            vct=self.vct(data.get("vct"), type_id),
            formats=self.formats(data["formats"]),
            display=self.display(data["display"]),
            authority=self.authority(data["authority"]),
            validity=self.duration(data["validity"], "validity"),
            source=self.choice(data["source"], "source", SourceKind, _names(SourceKind)),
            claims=claims,
            revoked_by=self.revoked_by(data.get("revoked_by", [])),
            policy=self.policy(data.get("policy", {"rules": []}), paths),
        )

    def vct(self, value: object, type_id: str) -> str:
        if value is None:
            return f"{self.base_url}/vct/{type_id}"
        text = self.string(value, "vct")
        if not re.match(r"^(https://|urn:)\S+$", text):
            self.fail("vct", "expected an https:// URL or a urn:")
        return text

    def formats(self, value: object) -> tuple[str, ...]:
        formats = self.strings(value, "formats")
        if not formats:
            self.fail("formats", "must name at least one format")
        for i, name in enumerate(formats):
            if name not in FORMATS:
                self.fail(f"formats[{i}]", f"{name!r} is not one of {', '.join(sorted(FORMATS))}")
        return tuple(formats)

    def display(self, value: object) -> Display:
        data = self.obj(value, "display", ("name", "description"))
        return Display(
            name=self.localized(data["name"], "display.name"),
            description=self.localized(data["description"], "display.description"),
        )

    def authority(self, value: object) -> Authority:
        data = self.obj(value, "authority", ("id", "name", "signing_key"))
        return Authority(
            id=self.identifier(data["id"], "authority.id"),
            name=self.localized(data["name"], "authority.name"),
            signing_key=self.identifier(data["signing_key"], "authority.signing_key"),
        )

    def duration(self, value: object, where: str) -> dt.timedelta:
        text = self.string(value, where)
        match = _DURATION.match(text)
        if not match or text in ("P", "PT") or text.endswith("T"):
            self.fail(where, f"{text!r} is not an ISO 8601 duration in W/D/H/M/S (e.g. P30D)")
        assert match is not None
        parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
        duration = dt.timedelta(
            weeks=parts["w"],
            days=parts["d"],
            hours=parts["h"],
            minutes=parts["m"],
            seconds=parts["s"],
        )
        if duration <= dt.timedelta(0):
            self.fail(where, "must be positive")
        return duration

    def claims(self, value: object, where: str, prefix: str) -> tuple[Claim, ...]:
        items = self.typed(value, list, where, "a list")
        if not items:
            self.fail(where, "must declare at least one claim")
        claims = tuple(self.claim(item, f"{where}[{i}]", prefix) for i, item in enumerate(items))
        seen: set[str] = set()
        for i, claim in enumerate(claims):
            if claim.name in seen:
                self.fail(f"{where}[{i}].name", f"duplicate claim name {claim.name!r}")
            seen.add(claim.name)
        return claims

    def claim(self, value: object, where: str, prefix: str) -> Claim:
        data = self.obj(
            value,
            where,
            ("name", "type", "sd", "label"),
            ("source", "required", "validity", "claims"),
        )
        name = self.identifier(data["name"], f"{where}.name")
        if not prefix and name in RESERVED_CLAIMS:
            self.fail(f"{where}.name", f"{name!r} is set by the issuer and cannot be declared")
        claim_type = self.choice(data["type"], f"{where}.type", ClaimType, _names(ClaimType))
        sd = self.boolean(data["sd"], f"{where}.sd")
        validity = self.boolean(data.get("validity", False), f"{where}.validity")
        if validity and sd:
            self.fail(f"{where}.sd", "a validity claim can never be selectively disclosable")
        if validity and claim_type is not ClaimType.DATE:
            self.fail(f"{where}.type", "a validity claim must be a date")
        path = f"{prefix}{name}"
        return Claim(
            name=name,
            path=path,
            type=claim_type,
            selectively_disclosable=sd,
            validity=validity,
            required=self.boolean(data.get("required", True), f"{where}.required"),
            label=self.localized(data["label"], f"{where}.label"),
            source=self.source_field(data.get("source"), f"{where}.source", claim_type),
            claims=self.members(data.get("claims"), where, claim_type, f"{path}."),
        )

    def members(
        self, value: object, where: str, claim_type: ClaimType, prefix: str
    ) -> tuple[Claim, ...]:
        if claim_type is ClaimType.OBJECT:
            if value is None:
                self.fail(f"{where}.claims", "an object claim must list its member claims")
            return self.claims(value, f"{where}.claims", prefix)
        if value is not None:
            self.fail(f"{where}.claims", "only an object claim has member claims")
        return ()

    def source_field(self, value: object, where: str, claim_type: ClaimType) -> str | None:
        if value is None:
            if claim_type is not ClaimType.OBJECT:
                self.fail(where, "missing (which registry field fills this claim?)")
            return None
        text = self.string(value, where)
        if not _SOURCE_FIELD.match(text):
            self.fail(where, f"{text!r} is not a dotted field name")
        return text

    def revoked_by(self, value: object) -> tuple[RevocationTrigger, ...]:
        items = self.typed(value, list, "revoked_by", "a list")
        triggers = []
        for i, item in enumerate(items):
            where = f"revoked_by[{i}]"
            data = self.obj(item, where, ("event",), ("when_changed",))
            event = self.string(data["event"], f"{where}.event")
            if not _EVENT.match(event) or event.split(".")[0] not in _SOURCE_KINDS:
                self.fail(f"{where}.event", f"{event!r} is not '<record kind>.<verb>'")
            changed = self.strings(data.get("when_changed", []), f"{where}.when_changed")
            triggers.append(RevocationTrigger(event, frozenset(changed)))
        return tuple(triggers)

    def policy(self, value: object, paths: set[str]) -> Policy:
        data = self.obj(value, "policy", ("rules",), ("same_region_only", "region_claim"))
        same_region = self.boolean(data.get("same_region_only", False), "policy.same_region_only")
        region_claim = data.get("region_claim")
        if same_region and region_claim is None:
            self.fail("policy.region_claim", "required when same_region_only is true")
        if region_claim is not None:
            region_claim = self.string(region_claim, "policy.region_claim")
            if region_claim not in paths:
                self.fail("policy.region_claim", f"{region_claim!r} is not a declared claim")
        rules = self.typed(data["rules"], list, "policy.rules", "a list")
        return Policy(
            same_region_only=same_region,
            region_claim=region_claim,
            rules=tuple(self.rule(r, f"policy.rules[{i}]", paths) for i, r in enumerate(rules)),
        )

    def rule(self, value: object, where: str, paths: set[str]) -> AccessRule:
        data = self.obj(value, where, ("sector", "claims"), ("purpose",))
        sector = self.string(data["sector"], f"{where}.sector")
        if sector not in SECTORS:
            self.fail(f"{where}.sector", f"{sector!r} is not one of {', '.join(sorted(SECTORS))}")
        purpose = data.get("purpose")
        if purpose is not None:
            purpose = self.identifier(purpose, f"{where}.purpose")
        claims = self.strings(data["claims"], f"{where}.claims")
        for i, path in enumerate(claims):
            if path not in paths:
                self.fail(f"{where}.claims[{i}]", f"{path!r} is not a declared claim")
        return AccessRule(sector=sector, purpose=purpose, claims=frozenset(claims))


def _join(where: str, key: str) -> str:
    return key if where == "$" else f"{where}.{key}"


def _names(enum_type: Iterable[Any]) -> str:
    return ", ".join(str(member.value) for member in enum_type)
