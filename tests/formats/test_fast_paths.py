"""The performance shortcuts give exactly the answers of the plain code they replace.

Each test pits a shortcut against a straightforward reference written here: strict
base64url decoding, compact JSON encoding, Disclosure JSON, claim-path set queries and
the Holder's choice of Disclosures (the walk without pruning).
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from elicense.crypto import _json, base64url
from elicense.crypto.keystore import LocalSigner
from elicense.errors import InvalidToken, ValidationFailed
from elicense.formats import _claim_paths as paths
from elicense.formats import sd_jwt
from elicense.formats._disclosures import ELLIPSIS, SD, Disclosure, digest, new_salts

_URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _reference_b64decode(text: str) -> bytes | None:
    """Unpadded, URL-safe, canonical base64url; None when the text is not that."""
    if len(text) % 4 == 1 or any(c not in _URL_ALPHABET for c in text):
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if base64url.encode(data) == text else None


@settings(max_examples=3000)
@given(st.text(alphabet=_URL_ALPHABET + "+/= \n*?é\x00", max_size=12))
def test_base64url_decode_accepts_exactly_canonical_base64url(text: str) -> None:
    expected = _reference_b64decode(text)
    if expected is None:
        with pytest.raises(InvalidToken) as caught:
            base64url.decode(text)
        assert caught.value.instance_code == "bad_base64url"
    else:
        assert base64url.decode(text) == expected


@given(st.binary(max_size=40))
def test_base64url_round_trip(data: bytes) -> None:
    assert base64url.decode(base64url.encode(data)) == data


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON)
def test_json_dumps_is_compact_json_dumps(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert _json.dumps(value) == expected


@given(st.text(), st.none() | st.text(), _JSON)
def test_disclosure_json_is_the_generic_encoding(salt: str, name: str | None, value: Any) -> None:
    array = [salt, value] if name is None else [salt, name, value]
    made = Disclosure.create(name, value, salt or "s")
    array[0] = salt or "s"
    assert base64url.decode(made.encoded) == _json.dumps(array)


def test_salts_are_128_bit_and_distinct() -> None:
    salts = new_salts(12)
    assert len(set(salts)) == 12
    assert all(len(base64url.decode(s)) == 16 for s in salts)


_STEP = st.sampled_from(["a", "b", "c", "_sd"]) | st.integers(0, 2) | st.none()
_PATH = st.lists(_STEP, min_size=1, max_size=3).map(tuple)
_CONCRETE = st.lists(st.sampled_from(["a", "b", "c", "_sd"]) | st.integers(0, 2), max_size=4)


@given(st.lists(_PATH, max_size=4), _CONCRETE.map(tuple))
def test_pathset_wants_is_leads_below_or_selects_ancestor(
    patterns: list[paths.ClaimPath], path: paths.ClaimPath
) -> None:
    wanted = paths.PathSet(patterns)
    expected = bool(path) and (wanted.leads_below(path) or wanted.selects_self_or_ancestor(path))
    assert (bool(path) and wanted.wants(path)) == expected


@given(
    st.lists(_PATH, max_size=4),
    _CONCRETE.map(tuple),
    st.sampled_from(["a", "b", "c", "_sd", 0, 1, 2]),
)
def test_pathset_wanted_child_steps(
    patterns: list[paths.ClaimPath], parent: paths.ClaimPath, step: str | int
) -> None:
    wanted = paths.PathSet(patterns)
    steps = wanted.wanted_child_steps(parent)
    if steps is not None:
        assert (step in steps) == wanted.wants((*parent, step))


# --- the Holder's choice of Disclosures, against the walk without shortcuts -----------


def _reference_choice(token: str, disclose: list[paths.ClaimPath]) -> set[str] | None:
    """Encoded Disclosures a Holder must send for ``disclose``; None if a path is absent."""
    parts = sd_jwt.split(token)
    payload = json.loads(parts.issuer_jwt.payload)
    by_digest = {digest("sha-256", d.encoded): d for d in parts.disclosures}
    wanted = paths.PathSet(disclose)
    chosen: set[str] = set()
    found: set[paths.ClaimPath] = set()

    def visit(value: Any, path: paths.ClaimPath, disclosure: Disclosure | None) -> None:
        if wanted.selects(path):
            found.update(wanted.matching(path))
        if disclosure is not None and (
            wanted.leads_below(path) or wanted.selects_self_or_ancestor(path)
        ):
            chosen.add(disclosure.encoded)
        if isinstance(value, dict):
            for name, child in value.items():
                if name != SD:
                    visit(child, (*path, name), None)
            for item in value.get(SD, ()):
                hit = by_digest.get(item)
                if hit is not None and hit.name is not None:
                    visit(hit.value, (*path, hit.name), hit)
        elif isinstance(value, list):
            index = 0
            for element in value:
                hit = None
                if isinstance(element, dict) and ELLIPSIS in element:
                    hit = by_digest.get(element[ELLIPSIS])
                    if hit is None or hit.name is not None:
                        continue
                visit(hit.value if hit else element, (*path, index), hit)
                index += 1

    visit(payload, (), None)
    return chosen if all(p in found for p in disclose) else None


CLAIMS: dict[str, Any] = {
    "a": "x",
    "b": {"a": 1, "b": {"c": [1, 2]}, "c": "y"},
    "c": [{"a": "p", "b": "q"}, {"a": "r"}, "s"],
}
SD_PATHS: list[paths.ClaimPath] = [
    ("a",),
    ("b",),
    ("b", "a"),
    ("b", "b"),
    ("b", "b", "c", 1),
    ("c", 0),
    ("c", 0, "a"),
    ("c", 2),
    ("c", 1, "a"),
]


@lru_cache(maxsize=1)
def _token() -> str:
    signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    return sd_jwt.issue(
        CLAIMS, signer=signer, selectively_disclosable=SD_PATHS, decoys=1
    ).serialize()


_QUERY = st.lists(st.sampled_from(["a", "b", "c"]) | st.integers(0, 2) | st.none(), min_size=1)


@settings(max_examples=400)
@given(st.lists(_QUERY.map(tuple), min_size=1, max_size=3))
def test_holder_chooses_what_the_plain_walk_chooses(disclose: list[paths.ClaimPath]) -> None:
    token = _token()
    expected = _reference_choice(token, disclose)
    if expected is None:
        with pytest.raises(ValidationFailed) as caught:
            sd_jwt.present(token, disclose)
        assert caught.value.instance_code == "claim_path_not_found"
    else:
        presentation = sd_jwt.present(token, disclose)
        assert set(presentation.split("~")[1:-1]) == expected
