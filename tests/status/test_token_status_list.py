from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicense.errors import InvalidToken
from elicense.status.token_status_list import (
    MAX_LIST_BYTES,
    Status,
    StatusList,
    decode_cwt_claim,
    decode_jwt_claim,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors/status_list/spec_examples.json").read_text()
)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"bits{v['bits']}")
def test_spec_examples_decode(vector: dict[str, Any]) -> None:
    decoded = decode_jwt_claim({"bits": vector["bits"], "lst": vector["lst"]})
    assert [decoded[i] for i in range(len(vector["statuses"]))] == vector["statuses"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"bits{v['bits']}")
def test_spec_examples_encode(vector: dict[str, Any]) -> None:
    status_list = StatusList(len(vector["statuses"]), vector["bits"])
    for index, value in enumerate(vector["statuses"]):
        status_list[index] = value
    assert status_list.to_jwt_claim() == {"bits": vector["bits"], "lst": vector["lst"]}


@given(
    bits=st.sampled_from([1, 2, 4, 8]),
    values=st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=300),
)
def test_round_trip_jwt_and_cwt(bits: int, values: list[int]) -> None:
    values = [v % (1 << bits) for v in values]
    status_list = StatusList(len(values), bits)
    for index, value in enumerate(values):
        status_list[index] = value
    for decoded in (
        decode_jwt_claim(status_list.to_jwt_claim()),
        decode_cwt_claim(status_list.to_cwt_claim()),
    ):
        assert [decoded[i] for i in range(len(values))] == values


def test_setting_one_entry_leaves_neighbours() -> None:
    status_list = StatusList(64, 2)
    status_list[10] = Status.SUSPENDED
    status_list[11] = Status.INVALID
    status_list[10] = Status.VALID
    assert [status_list[i] for i in (9, 10, 11, 12)] == [0, 0, 1, 0]


def test_out_of_range_index_and_value() -> None:
    status_list = StatusList(8, 1)
    with pytest.raises(IndexError):
        status_list[8]
    with pytest.raises(IndexError):
        status_list[-1] = 1
    with pytest.raises(ValueError, match="does not fit"):
        status_list[0] = 2


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        ({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}, "status_list_bits"),
        ({"bits": True, "lst": "eNrbuRgAAhcBXQ"}, "status_list_bits"),
        ({"lst": "eNrbuRgAAhcBXQ"}, "status_list_malformed"),
        ({"bits": 1, "lst": "not*base64"}, "status_list_malformed"),
        ({"bits": 1, "lst": "AAAA"}, "status_list_malformed"),
        ({"bits": 1, "lst": 5}, "status_list_malformed"),
        ("nonsense", "status_list_malformed"),
    ],
    ids=["bits_3", "bits_bool", "lst_missing", "lst_bad_base64", "lst_not_zlib", "lst_int", "str"],
)
def test_malformed_claims_are_rejected(claim: object, code: str) -> None:
    with pytest.raises(InvalidToken) as err:
        decode_jwt_claim(claim)
    assert err.value.instance_code == code


def test_truncated_stream_is_rejected() -> None:
    compressed = StatusList(1000, 1).compressed()
    with pytest.raises(InvalidToken) as err:
        decode_cwt_claim({"bits": 1, "lst": compressed[:-3]})
    assert err.value.instance_code == "status_list_malformed"


def test_decompression_bomb_stops_at_the_cap() -> None:
    bomb = zlib.compress(bytes(MAX_LIST_BYTES + 1), 9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(InvalidToken) as err:
        decode_cwt_claim({"bits": 1, "lst": bomb})
    assert err.value.instance_code == "status_list_too_large"
