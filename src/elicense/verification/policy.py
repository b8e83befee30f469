"""Relying-party policy (pure): sectors, grants, presets, region rule.

* **Sectors.** An RP registers in one of :data:`SECTORS`. The catalogue's policies name
  their own sector vocabulary; :data:`CATALOG_SECTORS` maps each RP sector onto the
  catalogue sectors whose rules apply to it (the registry and the demolition office are
  both local authorities dealing in real estate).
* **Grants.** An RP is registered with grants: per credential type, the purposes and
  claims it may request. A grant is accepted only if the catalogue policy permits
  those claims for that sector and purpose (:func:`check_grant`), so a registration
  is the catalogue policy narrowed per RP. :func:`check_request` refuses a DCQL query
  that asks beyond the grants (``beyond_registration``).
* **Region.** For types with ``same_region_only`` the credential's region claim must
  lie inside the RP's region (:func:`region_covers`: ``440000`` covers ``440305``).
* **Presets** (``presets.json``) turn a use (``mortgage``, ``hotel_check_in``...) into a
  DCQL query with the catalogue's ``vct`` values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from elicense.catalog import Catalog, CredentialType
from elicense.errors import AccessDenied, NotFound, ValidationFailed
from elicense.verification import dcql
from elicense.verification.dcql import ClaimPath

SECTORS = (
    "bank",
    "real_estate_registry",
    "housing_demolition_office",
    "hotel",
    "rail",
    "hospital",
    "border_control",
)
CATALOG_SECTORS: Mapping[str, tuple[str, ...]] = {
    "bank": ("bank",),
    "real_estate_registry": ("real_estate", "local_authority"),
    "housing_demolition_office": ("real_estate", "local_authority"),
    "hotel": ("hotel",),
    "rail": ("rail",),
    "hospital": ("hospital",),
    "border_control": ("border_control",),
}
PRESETS_FILE = Path(__file__).with_name("presets.json")


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """An RP may request ``claims`` (dotted names) of ``credential_type`` for ``purposes``."""

    credential_type: str
    purposes: frozenset[str]
    claims: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "credential_type": self.credential_type,
            "purposes": sorted(self.purposes),
            "claims": sorted(self.claims),
        }

    @classmethod
    def from_json(cls, value: object) -> Grant:
        if not isinstance(value, Mapping):
            raise ValidationFailed("a grant is an object", code="grant_invalid")
        ctype, purposes, claims = (
            value.get("credential_type"),
            value.get("purposes"),
            value.get("claims"),
        )
        if not isinstance(ctype, str) or not _strings(purposes) or not _strings(claims):
            raise ValidationFailed(
                "a grant needs credential_type, purposes and claims", code="grant_invalid"
            )
        assert isinstance(purposes, list)
        assert isinstance(claims, list)
        return cls(ctype, frozenset(purposes), frozenset(claims))


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def check_sector(sector: str) -> str:
    if sector not in CATALOG_SECTORS:
        raise ValidationFailed(f"unknown sector {sector!r}", code="rp_sector_unknown")
    return sector


def catalog_allows(ctype: CredentialType, sector: str, purpose: str, claim: str) -> bool:
    """The catalogue permits ``claim`` to an RP of ``sector`` for ``purpose``."""
    return any(
        ctype.policy.permits(s, purpose, (claim,)) for s in CATALOG_SECTORS[check_sector(sector)]
    )


def check_grant(catalog: Catalog, sector: str, grant: Grant) -> None:
    """Refuse a grant beyond the catalogue policy (``claims_not_permitted``)."""
    ctype = catalog.get(grant.credential_type)
    for claim in sorted(grant.claims):
        ctype.claim(claim)
        for purpose in sorted(grant.purposes):
            if not catalog_allows(ctype, sector, purpose, claim):
                raise AccessDenied(
                    f"{sector} may not request {claim} of {ctype.id} for {purpose}",
                    code="claims_not_permitted",
                )


def claim_name(path: ClaimPath) -> str:
    """Dotted catalogue name of a claim path (array steps dropped)."""
    return ".".join(s for s in path if isinstance(s, str))


def permitted(grants: Iterable[Grant], ctype_id: str, purpose: str, name: str) -> bool:
    """``name`` (or an object containing it) is granted for ``ctype_id`` and ``purpose``."""
    parts = name.split(".")
    prefixes = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return any(
        g.credential_type == ctype_id and purpose in g.purposes and bool(prefixes & g.claims)
        for g in grants
    )


def check_request(
    catalog: Catalog,
    sector: str,
    grants: Sequence[Grant],
    purpose: str,
    query: dcql.DcqlQuery,
) -> None:
    """Refuse a query beyond the RP's registration or the catalogue policy."""
    for credential in query.credentials:
        for vct in credential.vct_values:
            ctype = _type_by_vct(catalog, vct)
            for path in credential.all_paths():
                name = claim_name(path)
                if not permitted(grants, ctype.id, purpose, name):
                    raise AccessDenied(
                        f"{ctype.id}.{name} for {purpose} is beyond the registration",
                        code="beyond_registration",
                    )
                if not catalog_allows(ctype, sector, purpose, name):
                    raise AccessDenied(
                        f"{sector} may not request {ctype.id}.{name}", code="claims_not_permitted"
                    )


def _type_by_vct(catalog: Catalog, vct: str) -> CredentialType:
    try:
        return catalog.by_vct(vct)
    except NotFound:
        raise AccessDenied(f"unknown credential type {vct}", code="beyond_registration") from None


def region_covers(rp_region: str, credential_region: object) -> bool:
    """``440000`` covers ``440305``; ``440300`` covers ``440305`` but not ``441900``."""
    if not isinstance(credential_region, str) or len(rp_region) != 6:
        return False
    prefix = rp_region
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return credential_region.startswith(prefix)


@dataclasses.dataclass(frozen=True, slots=True)
class Preset:
    name: str
    sector: str
    purpose: str
    query: dcql.DcqlQuery


def load_presets(catalog: Catalog, path: Path = PRESETS_FILE) -> dict[str, Preset]:
    """Every preset with its DCQL query (``vct`` values from ``catalog``)."""
    data = json.loads(path.read_text("utf-8"))
    return {
        name: _preset(catalog, name, value)
        for name, value in data.items()
        if not name.startswith("$")
    }


def _preset(catalog: Catalog, name: str, value: Mapping[str, Any]) -> Preset:
    credentials = [_preset_credential(catalog, c) for c in value["credentials"]]
    query = dcql.parse({"credentials": credentials})
    return Preset(name, value["sector"], value["purpose"], query)


def _preset_credential(catalog: Catalog, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A DCQL credential query; ``optional`` claims become a preferred ``claim_sets``
    option, with the required claims alone as the fallback (e.g. a photo when the ID
    has one)."""
    query: dict[str, Any] = {
        "id": spec["id"],
        "format": dcql.FORMAT_SD_JWT_VC,
        "meta": {"vct_values": [catalog.get(spec["type"]).vct]},
        "claims": [{"path": p} for p in spec["claims"]],
    }
    optional = spec.get("optional", [])
    if optional:
        paths = [*spec["claims"], *optional]
        query["claims"] = [{"id": f"c{i}", "path": p} for i, p in enumerate(paths)]
        required = [f"c{i}" for i in range(len(spec["claims"]))]
        query["claim_sets"] = [[f"c{i}" for i in range(len(paths))], required]
    return query
