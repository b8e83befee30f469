from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicense import clock
from elicense.errors import ValidationFailed
from elicense.registry import resident_id
from elicense.registry.resident_id import Sex

# GB 11643-1999 worked example (female, born 1949-12-31, check character X).
STANDARD_EXAMPLE = "11010519491231002X"


def _code(value: str) -> str:
    with pytest.raises(ValidationFailed) as info:
        resident_id.parse(value, today=dt.date(2026, 1, 1))
    return info.value.instance_code


def test_standard_example_parses() -> None:
    parsed = resident_id.parse(STANDARD_EXAMPLE)
    assert parsed.region == "110105"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sequence == 2
    assert parsed.sex is Sex.FEMALE


def test_lower_case_x_and_blanks_are_normalized() -> None:
    assert resident_id.parse(" 11010519491231002x ").number == STANDARD_EXAMPLE


def test_odd_sequence_is_male() -> None:
    number = resident_id.generate(sex=Sex.MALE, birth_date=dt.date(1990, 3, 7))
    assert resident_id.parse(number).sex is Sex.MALE


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param("", "id_number_format", id="empty"),
        pytest.param("11010519491231002", "id_number_format", id="17_chars"),
        pytest.param("11010519491231002XX", "id_number_format", id="19_chars"),
        pytest.param("1101051949123100AX", "id_number_format", id="letter_in_body"),
        pytest.param("110105194912310021", "id_number_checksum", id="wrong_check_digit"),
        pytest.param("11010519491231003X", "id_number_checksum", id="changed_sequence"),
        pytest.param("990105194912310026", "id_number_region", id="no_such_province"),
        pytest.param("010105194912310026", "id_number_region", id="province_00"),
    ],
)
def test_malformed_numbers_are_refused(value: str, code: str) -> None:
    assert _code(value) == code


@pytest.mark.parametrize("birth", ["19990230", "19991301", "19990000", "20230229"])
def test_impossible_birth_dates_are_refused(birth: str) -> None:
    first17 = f"110105{birth}002"
    assert _code(first17 + resident_id.check_character(first17)) == "id_number_birth_date"


def test_future_birth_date_is_refused() -> None:
    number = resident_id.generate(birth_date=dt.date(2026, 1, 2))
    assert _code(number) == "id_number_birth_date"
    assert resident_id.parse(number, today=dt.date(2026, 1, 2)).birth_date == dt.date(2026, 1, 2)


def test_future_is_judged_by_the_civil_clock() -> None:
    number = resident_id.generate(birth_date=dt.date(2026, 3, 1))
    # 2026-02-28 17:00 UTC is already 2026-03-01 01:00 in China.
    with clock.frozen(dt.datetime(2026, 2, 28, 17, 0, tzinfo=dt.UTC)):
        assert resident_id.parse(number).birth_date == dt.date(2026, 3, 1)


def test_birth_before_1900_is_implausible() -> None:
    assert _code(resident_id.generate(birth_date=dt.date(1899, 12, 31))) == "id_number_birth_date"


def test_errors_never_repeat_the_number() -> None:
    with pytest.raises(ValidationFailed) as info:
        resident_id.parse("110105194912310021")
    assert "110105" not in str(info.value)


def test_stated_birth_date_and_sex_must_agree() -> None:
    parsed = resident_id.parse(STANDARD_EXAMPLE)
    resident_id.check_agrees(parsed, birth_date=dt.date(1949, 12, 31), sex=Sex.FEMALE)
    with pytest.raises(ValidationFailed) as info:
        resident_id.check_agrees(parsed, birth_date=dt.date(1949, 12, 30), sex=Sex.FEMALE)
    assert info.value.instance_code == "id_number_birth_date_mismatch"
    with pytest.raises(ValidationFailed) as info:
        resident_id.check_agrees(parsed, birth_date=dt.date(1949, 12, 31), sex=Sex.MALE)
    assert info.value.instance_code == "id_number_sex_mismatch"


def test_mask_keeps_region_and_last_four() -> None:
    assert resident_id.mask("110101199003074514") == "110101********4514"
    assert "1949" not in repr(resident_id.parse(STANDARD_EXAMPLE))


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    sex=st.sampled_from(list(Sex)),
    seed=st.integers(0, 2**32),
)
def test_generated_numbers_round_trip(birth: dt.date, sex: Sex, seed: int) -> None:
    number = resident_id.generate(birth_date=birth, sex=sex, rng=random.Random(seed))
    parsed = resident_id.parse(number)
    assert (parsed.birth_date, parsed.sex, parsed.region) == (birth, sex, "330106")


@given(seed=st.integers(0, 2**32))
def test_any_single_digit_change_is_caught(seed: int) -> None:
    number = resident_id.generate(rng=random.Random(seed))
    for position in range(17):
        digit = str((int(number[position]) + 1) % 10)
        mutated = number[:position] + digit + number[position + 1 :]
        with pytest.raises(ValidationFailed):
            resident_id.parse(mutated)
