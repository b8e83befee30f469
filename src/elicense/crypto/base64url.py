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
#: base64url -> base64, and the standard-only characters to one strict mode rejects.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/***")
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
    if remainder == 1:
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url")
    try:
        # '+', '/' and '=' become '*', which strict mode rejects like any other
        # character outside the alphabet (and '?', our stand-in for non-ASCII).
        data = binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PAD[remainder], strict_mode=True)
    except binascii.Error as exc:
        raise InvalidToken(f"{what} is not base64url", code="bad_base64url") from exc
    if remainder and _VALUE[raw[-1]] & _UNUSED_BITS[remainder]:
        raise InvalidToken(f"{what} is not canonical base64url", code="bad_base64url")
    return data
