"""base64url without padding (RFC 7515 Section 2), strict on decode.

Decoding rejects padding, characters outside the URL-safe alphabet and non-canonical
encodings (unused low bits set in the last character), so that exactly one string
encodes a given byte string: a mutated signature segment can never decode to the same
bytes.
"""

from __future__ import annotations

import binascii

from elicense.errors import InvalidToken

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
#: Bits of the last character that carry no data, by ``len % 4``.
_UNUSED_BITS = {2: 0x0F, 3: 0x03}
_PAD = {0: b"", 2: b"==", 3: b"="}


_TO_URL = bytes.maketrans(b"+/", b"-_")


def encode(data: bytes) -> str:
    """base64url-encode ``data`` without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def decode(text: str | bytes, *, what: str = "segment") -> bytes:
    """Decode canonical unpadded base64url; raise :class:`InvalidToken` otherwise."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    remainder = len(raw) % 4
    if remainder == 1 or raw.translate(None, _ALPHABET):
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url")
    if remainder and _VALUE[raw[-1]] & _UNUSED_BITS[remainder]:
        raise InvalidToken(f"{what} is not canonical base64url", code="bad_base64url")
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PAD[remainder])
    except binascii.Error as exc:  # pragma: no cover - excluded by the checks above
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url") from exc
