"""Size caps checked before anything is decoded (secure defaults live here).

Every parser in :mod:`elicense.crypto` and :mod:`elicense.formats` measures its input
against a :class:`Limits` *before* base64 or JSON decoding, so an oversized token costs
a length comparison, not a parse.
"""

from __future__ import annotations

import dataclasses

from elicense.errors import ConfigError, TokenTooLarge


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds, in bytes of the *encoded* input unless said otherwise."""

    max_token_bytes: int = 64 * 1024
    max_header_bytes: int = 8 * 1024
    max_payload_bytes: int = 48 * 1024
    max_signature_bytes: int = 128
    max_disclosure_bytes: int = 8 * 1024
    max_disclosures: int = 256
    max_kb_jwt_bytes: int = 4 * 1024
    max_depth: int = 24

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ConfigError(f"Limits.{field.name} must be positive")


DEFAULT_LIMITS = Limits()


def check_size(length: int, cap: int, what: str, code: str) -> None:
    """Raise :class:`TokenTooLarge` (with ``code``) when ``length`` exceeds ``cap``."""
    if length > cap:
        raise TokenTooLarge(f"{what} is {length} bytes, the limit is {cap}", code=code)
