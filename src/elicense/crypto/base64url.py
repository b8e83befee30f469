"""base64url without padding (RFC 7515 Section 2), strict on decode.

Decoding rejects padding, characters outside the URL-safe alphabet and non-canonical
encodings (unused low bits set in the last character), so that exactly one string
encodes a given byte string: a mutated signature segment can never decode to the same
bytes.
"""

from __future__ import annotations

import base64
import binascii

from elicense.errors import InvalidToken

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode(data: bytes) -> str:
    """base64url-encode ``data`` without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str | bytes, *, what: str = "segment") -> bytes:
    """Decode canonical unpadded base64url; raise :class:`InvalidToken` otherwise."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if len(raw) % 4 == 1 or not _ALPHABET.issuperset(raw):
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url")
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url") from exc
    if base64.urlsafe_b64encode(data).rstrip(b"=") != raw:
        raise InvalidToken(f"{what} is not canonical base64url", code="bad_base64url")
    return data
