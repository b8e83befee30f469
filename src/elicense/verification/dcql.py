"""DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 (Section 6), pure.

* :func:`parse` validates a query (JSON object) into a :class:`DcqlQuery` or raises
  :class:`~elicense.errors.InvalidRequest` (``dcql_invalid``). We accept the format
  ``dc+sd-jwt`` only (``vp_formats_not_supported`` otherwise), require
  ``meta.vct_values`` and at least one claim per credential query (a query without
  claims would let the wallet decide what to disclose).
* :func:`disclosure_paths` is the Holder's side: the claim paths to disclose for one
  credential query (the first ``claim_sets`` option the credential can satisfy).
* :func:`match_credential` is the Verifier's side: it raises ``dcql_not_satisfied``
  unless the disclosed claims satisfy the query (paths present, ``values`` matched,
  one ``claim_sets`` option complete); :func:`check_credential_sets` does the same for
  ``credential_sets`` over the ids that were presented.

Claim paths are tuples of ``str`` (object key), ``int`` (array index) and ``None``
(every array element), as in the spec and :mod:`elicense.formats.sd_jwt`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from elicense.errors import InvalidRequest, InvalidToken, VpFormatsNotSupported

FORMAT_SD_JWT_VC = "dc+sd-jwt"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_CREDENTIALS = 8
_MAX_CLAIMS = 64
_MAX_PATH = 8
_MAX_VALUES = 16

Step = str | int | None
ClaimPath = tuple[Step, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimQuery:
    path: ClaimPath
    id: str | None = None
    values: tuple[str | int | bool, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    vct_values: tuple[str, ...]
    claims: tuple[ClaimQuery, ...]
    claim_sets: tuple[tuple[str, ...], ...] = ()
    multiple: bool = False
    format: str = FORMAT_SD_JWT_VC

    def options(self) -> tuple[tuple[ClaimQuery, ...], ...]:
        """The alternative claim combinations, most preferred first."""
        if not self.claim_sets:
            return (self.claims,)
        by_id = {c.id: c for c in self.claims}
        return tuple(tuple(by_id[i] for i in option) for option in self.claim_sets)

    def all_paths(self) -> tuple[ClaimPath, ...]:
        """Every claim path this query may ask for (all options)."""
        return tuple(c.path for c in self.claims)


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    options: tuple[tuple[str, ...], ...]
    required: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] = ()

    def credential(self, query_id: str) -> CredentialQuery:
        for query in self.credentials:
            if query.id == query_id:
                return query
        raise InvalidRequest(f"no credential query {query_id!r}", code="dcql_unknown_id")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"credentials": [_credential_json(c) for c in self.credentials]}
        if self.credential_sets:
            out["credential_sets"] = [
                {"options": [list(o) for o in s.options], "required": s.required}
                for s in self.credential_sets
            ]
        return out


# --- parsing -----------------------------------------------------------------------------


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(f"DCQL: {message}", code="dcql_invalid")


def parse(value: object) -> DcqlQuery:
    """Validate a DCQL query given as parsed JSON."""
    data = _object(value, "query", {"credentials"}, {"credential_sets"})
    raw = data["credentials"]
    if not isinstance(raw, list) or not 0 < len(raw) <= _MAX_CREDENTIALS:
        raise _bad("credentials must be a non-empty list")
    credentials = tuple(_credential(c) for c in raw)
    ids = [c.id for c in credentials]
    if len(set(ids)) != len(ids):
        raise _bad("credential ids must be unique")
    sets = tuple(_credential_set(s, set(ids)) for s in _list(data.get("credential_sets", [])))
    return DcqlQuery(credentials, sets)


def _object(value: object, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    missing = required - value.keys()
    unknown = value.keys() - required - optional
    if missing:
        raise _bad(f"{where} lacks {sorted(missing)[0]}")
    if unknown:
        raise _bad(f"{where} has unsupported member {sorted(unknown)[0]}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise _bad("expected a list")
    return value


def _identifier(value: object, where: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise _bad(f"{where} must be an identifier of [A-Za-z0-9_-]")
    return value


def _credential(value: object) -> CredentialQuery:
    data = _object(
        value, "credential", {"id", "format", "meta", "claims"}, {"claim_sets", "multiple"}
    )
    query_id = _identifier(data["id"], "credential id")
    if data["format"] != FORMAT_SD_JWT_VC:
        raise VpFormatsNotSupported(f"format {data['format']!r} is not supported")
    meta = _object(data["meta"], "meta", {"vct_values"}, set())
    vcts = _list(meta["vct_values"])
    if not vcts or not all(isinstance(v, str) and v for v in vcts):
        raise _bad("meta.vct_values must be non-empty strings")
    claims = tuple(_claim(c) for c in _list(data["claims"]))
    if not 0 < len(claims) <= _MAX_CLAIMS:
        raise _bad("claims must be a non-empty list")
    claim_ids = [c.id for c in claims if c.id is not None]
    if len(set(claim_ids)) != len(claim_ids):
        raise _bad("claim ids must be unique")
    sets = tuple(_claim_set(s, set(claim_ids)) for s in _list(data.get("claim_sets", [])))
    if sets and len(claim_ids) != len(claims):
        raise _bad("with claim_sets every claim needs an id")
    multiple = data.get("multiple", False)
    if not isinstance(multiple, bool):
        raise _bad("multiple must be a boolean")
    return CredentialQuery(query_id, tuple(vcts), claims, sets, multiple)


def _claim(value: object) -> ClaimQuery:
    data = _object(value, "claim", {"path"}, {"id", "values"})
    path = _path(data["path"])
    claim_id = _identifier(data["id"], "claim id") if "id" in data else None
    values = None
    if "values" in data:
        raw = _list(data["values"])
        if not 0 < len(raw) <= _MAX_VALUES or not all(isinstance(v, str | int | bool) for v in raw):
            raise _bad("values must be a non-empty list of strings, integers or booleans")
        values = tuple(raw)
    return ClaimQuery(path, claim_id, values)


def _path(value: object) -> ClaimPath:
    steps = _list(value)
    if not 0 < len(steps) <= _MAX_PATH:
        raise _bad("a claim path has 1 to 8 elements")
    for step in steps:
        ok = step is None or (isinstance(step, str) and step) or _is_index(step)
        if not ok:
            raise _bad("path elements are strings, non-negative integers or null")
    return tuple(steps)


def _is_index(step: object) -> bool:
    return isinstance(step, int) and not isinstance(step, bool) and step >= 0


def _claim_set(value: object, ids: set[str]) -> tuple[str, ...]:
    option = tuple(_identifier(i, "claim_sets entry") for i in _list(value))
    if not option or not set(option) <= ids:
        raise _bad("claim_sets options name existing claim ids")
    return option


def _credential_set(value: object, ids: set[str]) -> CredentialSetQuery:
    data = _object(value, "credential_set", {"options"}, {"required", "purpose"})
    options = tuple(
        tuple(_identifier(i, "credential_sets option") for i in _list(o))
        for o in _list(data["options"])
    )
    if not options or not all(o and set(o) <= ids for o in options):
        raise _bad("credential_sets options name existing credential ids")
    required = data.get("required", True)
    if not isinstance(required, bool):
        raise _bad("required must be a boolean")
    return CredentialSetQuery(options, required)


def _credential_json(query: CredentialQuery) -> dict[str, Any]:
    claims: list[dict[str, Any]] = []
    for claim in query.claims:
        item: dict[str, Any] = {"path": list(claim.path)}
        if claim.id is not None:
            item["id"] = claim.id
        if claim.values is not None:
            item["values"] = list(claim.values)
        claims.append(item)
    out: dict[str, Any] = {
        "id": query.id,
        "format": query.format,
        "meta": {"vct_values": list(query.vct_values)},
        "claims": claims,
    }
    if query.claim_sets:
        out["claim_sets"] = [list(s) for s in query.claim_sets]
    if query.multiple:
        out["multiple"] = True
    return out


# --- matching ----------------------------------------------------------------------------


def select(claims: object, path: ClaimPath) -> list[Any]:
    """The values at ``path`` in ``claims`` (several when the path has ``None``)."""
    current: list[Any] = [claims]
    for step in path:
        following: list[Any] = []
        for value in current:
            if _has(value, step):
                following.append(value[step])
            elif step is None and isinstance(value, list):
                following.extend(value)
        current = following
    return current


def _has(value: object, step: Step) -> bool:
    if isinstance(step, str):
        return isinstance(value, Mapping) and step in value
    return isinstance(step, int) and isinstance(value, list) and step < len(value)


def _claim_ok(claims: Mapping[str, Any], claim: ClaimQuery) -> bool:
    found = select(claims, claim.path)
    if not found:
        return False
    if claim.values is None:
        return True
    return any(_value_in(v, claim.values) for v in found)


def _value_in(value: object, allowed: Sequence[str | int | bool]) -> bool:
    return any(type(value) is type(a) and value == a for a in allowed)


def disclosure_paths(query: CredentialQuery, claims: Mapping[str, Any]) -> tuple[ClaimPath, ...]:
    """Holder: the paths to disclose, from the first option ``claims`` can satisfy."""
    for option in query.options():
        if all(_claim_ok(claims, c) for c in option):
            return tuple(c.path for c in option)
    raise InvalidRequest(
        f"the credential cannot satisfy credential query {query.id}", code="dcql_not_satisfiable"
    )


def match_credential(
    query: CredentialQuery, vct: str, claims: Mapping[str, Any]
) -> tuple[ClaimPath, ...]:
    """Verifier: the satisfied option's paths, or raise ``dcql_not_satisfied``."""
    if vct not in query.vct_values:
        raise InvalidToken(
            f"credential type does not match query {query.id}", code="dcql_wrong_vct"
        )
    for option in query.options():
        if all(_claim_ok(claims, c) for c in option):
            return tuple(c.path for c in option)
    raise InvalidToken(
        f"disclosed claims do not satisfy query {query.id}", code="dcql_not_satisfied"
    )


def check_credential_sets(query: DcqlQuery, presented: Iterable[str]) -> None:
    """Verifier: every required credential set (or, without sets, every query) is met."""
    ids = set(presented)
    if not query.credential_sets:
        missing = [c.id for c in query.credentials if c.id not in ids]
        if missing:
            raise InvalidToken(f"no presentation for {missing[0]}", code="dcql_not_satisfied")
        return
    for credential_set in query.credential_sets:
        if credential_set.required and not any(set(o) <= ids for o in credential_set.options):
            raise InvalidToken("a required credential set is not met", code="dcql_not_satisfied")


def render(path: ClaimPath) -> str:
    """A dotted claim name (``spouse.name``; array steps as ``[]``/``[i]``)."""
    out = ""
    for step in path:
        if isinstance(step, str):
            out += ("." if out else "") + step
        else:
            out += "[]" if step is None else f"[{step}]"
    return out


def leaf_paths(claims: Mapping[str, Any], prefix: ClaimPath = ()) -> list[ClaimPath]:
    """Every leaf claim path of a disclosed claims object (objects recursed into)."""
    out: list[ClaimPath] = []
    for name, value in claims.items():
        path = (*prefix, name)
        if isinstance(value, Mapping) and value:
            out.extend(leaf_paths(value, path))
        else:
            out.append(path)
    return out


def covers(requested: ClaimPath, path: ClaimPath) -> bool:
    """``requested`` selects ``path`` or one of its ancestors."""
    if len(requested) > len(path):
        return False
    return all(r is None or r == p for r, p in zip(requested, path, strict=False))
