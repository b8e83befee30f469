"""Resident identity numbers (GB 11643-1999), pure: strings in, typed values out.

An 18-character number is laid out as::

    RRRRRR YYYYMMDD SSS C
    region birth    seq check

* ``RRRRRR`` — the household region code (GB/T 2260); its first two digits name a
  province-level division, checked against :data:`PROVINCE_CODES`.
* ``YYYYMMDD`` — the date of birth: a real calendar date, not in the future.
* ``SSS`` — a sequence number; odd for men, even for women.
* ``C`` — the ISO 7064 MOD 11-2 check character (``0``–``9`` or ``X``).

:func:`parse` raises :class:`~elicense.errors.ValidationFailed` with a specific code
(``id_number_format``, ``id_number_region``, ``id_number_birth_date``,
``id_number_checksum``); its messages never repeat the number. :func:`generate` makes
valid numbers for tests and demos.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import random
import re

from elicense import clock
from elicense.errors import ValidationFailed

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"\d{17}[\dX]")
_EARLIEST_BIRTH = dt.date(1900, 1, 1)

# Province-level divisions (GB/T 2260): 11–15 north, 21–23 north-east, 31–37 east,
# 41–46 south-central, 50–54 south-west, 61–65 north-west, 71 Taiwan, 81–82 HK/Macao.
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)


class Sex(enum.StrEnum):
    MALE = "M"
    FEMALE = "F"


@dataclasses.dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated resident ID number and what it encodes."""

    number: str = dataclasses.field(repr=False)
    region: str
    birth_date: dt.date = dataclasses.field(repr=False)
    sequence: int = dataclasses.field(repr=False)
    sex: Sex

    @property
    def masked(self) -> str:
        return mask(self.number)


def normalize(value: str) -> str:
    """Strip blanks and upper-case a trailing ``x``."""
    return value.strip().upper()


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse(value: str, *, today: dt.date | None = None) -> ResidentId:
    """Validate ``value`` and return what it encodes; raise ``ValidationFailed`` if invalid."""
    number = normalize(value)
    if not _SHAPE.fullmatch(number):
        raise ValidationFailed(
            "ID number must be 17 digits followed by a digit or X", code="id_number_format"
        )
    _check_region(number[:6])
    birth_date = _birth_date(number[6:14], today or clock.today())
    if check_character(number[:17]) != number[17]:
        raise ValidationFailed("ID number check character is wrong", code="id_number_checksum")
    sequence = int(number[14:17])
    return ResidentId(
        number=number,
        region=number[:6],
        birth_date=birth_date,
        sequence=sequence,
        sex=Sex.MALE if sequence % 2 else Sex.FEMALE,
    )


def _check_region(region: str) -> None:
    if int(region[:2]) not in PROVINCE_CODES:
        raise ValidationFailed("ID number region code names no province", code="id_number_region")


def _birth_date(digits: str, today: dt.date) -> dt.date:
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValidationFailed(
            "ID number encodes an impossible birth date", code="id_number_birth_date"
        ) from None
    if born > today:
        raise ValidationFailed(
            "ID number encodes a birth date in the future", code="id_number_birth_date"
        )
    if born < _EARLIEST_BIRTH:
        raise ValidationFailed(
            "ID number encodes an implausible birth date", code="id_number_birth_date"
        )
    return born


def check_agrees(resident_id: ResidentId, *, birth_date: dt.date, sex: Sex) -> None:
    """Raise unless the stated birth date and sex agree with the number."""
    if resident_id.birth_date != birth_date:
        raise ValidationFailed(
            "birth date does not agree with the ID number", code="id_number_birth_date_mismatch"
        )
    if resident_id.sex != sex:
        raise ValidationFailed(
            "sex does not agree with the ID number", code="id_number_sex_mismatch"
        )


def mask(number: str) -> str:
    """``110101********4514``: region and last four kept, birth date hidden."""
    return number[:6] + "*" * 8 + number[14:] if len(number) == 18 else "*" * len(number)


def generate(
    *,
    region: str = "330106",
    birth_date: dt.date = dt.date(1995, 5, 17),
    sex: Sex = Sex.MALE,
    sequence: int | None = None,
    rng: random.Random | None = None,
) -> str:
    """A valid number (tests and demos). ``sequence`` is adjusted to match ``sex``."""
    if sequence is None:
        sequence = (rng or random.Random()).randrange(0, 500) * 2  # noqa: S311 (not secret)
    if sequence % 2 != (1 if sex is Sex.MALE else 0):
        sequence = sequence + 1 if sequence < 999 else sequence - 1
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
