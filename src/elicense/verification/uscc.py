"""Unified social credit codes (统一社会信用代码, GB 32100-2015), pure validation.

An 18-character code: registration authority (1), organisation type (1), the 6-digit
administrative region of registration, the 9-character organisation code of
GB 11714-1997 (8 characters and its own check character) and a final check character
computed mod 31 over the charset ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z).
:func:`validate` raises :class:`~elicense.errors.ValidationFailed` with a specific code
(``uscc_length``, ``uscc_charset``, ``uscc_authority``, ``uscc_region``,
``uscc_org_check``, ``uscc_check``) and returns a :class:`Uscc` otherwise.
"""

from __future__ import annotations

import dataclasses
import re

from elicense.errors import ValidationFailed

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {c: i for i, c in enumerate(CHARSET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
#: Registration authority code -> organisation type codes it may register (GB 32100 Annex).
AUTHORITIES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),  # organisation establishment (机构编制)
    "2": frozenset("19"),  # foreign affairs
    "3": frozenset("123459"),  # justice administration
    "4": frozenset("19"),  # culture
    "5": frozenset("1239"),  # civil affairs
    "6": frozenset("123"),  # tourism
    "7": frozenset("12"),  # religious affairs
    "8": frozenset("19"),  # trade unions
    "9": frozenset("123"),  # industry and commerce (market regulation)
    "A": frozenset("19"),  # central military commission
    "N": frozenset("1239"),  # agriculture
    "Y": frozenset("1"),  # other
}
_REGION = re.compile(r"^[1-9][0-9]{5}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Uscc:
    """A code whose structure and both check characters are valid."""

    code: str
    authority: str
    organisation_type: str
    region: str
    organisation_code: str


def check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def organisation_check_character(body8: str) -> str:
    """The GB 11714 check character for the 8-character organisation code body."""
    total = sum(_org_value(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def validate(code: str) -> Uscc:
    """Parse and validate ``code`` (upper-case only, no spaces)."""
    if len(code) != 18:
        raise ValidationFailed("a social credit code has 18 characters", code="uscc_length")
    if any(c not in _VALUES for c in code):
        raise ValidationFailed("character outside the GB 32100 charset", code="uscc_charset")
    authority, org_type, region, org = code[0], code[1], code[2:8], code[8:17]
    if org_type not in AUTHORITIES.get(authority, frozenset()):
        raise ValidationFailed("unknown authority or organisation type", code="uscc_authority")
    if not _REGION.match(region):
        raise ValidationFailed("region is not a 6-digit division code", code="uscc_region")
    if organisation_check_character(org[:8]) != org[8]:
        raise ValidationFailed("organisation code check character is wrong", code="uscc_org_check")
    if check_character(code[:17]) != code[17]:
        raise ValidationFailed("check character is wrong", code="uscc_check")
    return Uscc(code, authority, org_type, region, org)
