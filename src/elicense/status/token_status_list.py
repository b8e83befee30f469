"""IETF Token Status List: the status list data structure (pure).

A status list is a byte array holding one ``bits``-wide status per referenced token
(``bits`` in 1, 2, 4, 8); the status of index ``i`` sits in byte ``i*bits // 8`` at bit
offset ``i*bits % 8``, least significant bits first. On the wire it is DEFLATE-compressed
in the ZLIB format: base64url in the JWT form (``{"bits": 1, "lst": "eNrb…"}``) and a
byte string in the CWT form (``{"bits": 1, "lst": h'78da…'}``).

Decoding is capped: the compressed input and the decompressed output both have a
maximum size, so a crafted list cannot exhaust memory (a zlib bomb stops at the cap).
"""

from __future__ import annotations

import base64
import enum
import zlib
from typing import Any

from elicense.errors import InvalidToken

ALLOWED_BITS = (1, 2, 4, 8)
MAX_COMPRESSED_BYTES = 4 * 1024 * 1024
MAX_LIST_BYTES = 16 * 1024 * 1024  # 134M one-bit entries


class Compression(enum.Enum):
    """How :meth:`StatusList.compressed` drives zlib (both give standard ZLIB/DEFLATE).

    ``BEST`` is zlib level 9 with the default strategy: smallest for small lists, but
    slow on large ones (about 0.7 s for a 10-million-entry list). ``RLE`` restricts
    LZ77 to distance-1 matches (``Z_RLE``): on sparse random revocations it is within
    1.5x of the entropy bound and ~100x faster, so the status service publishes with it
    (figures in ``bench/status_list.py`` and ``docs/status.md``).
    """

    BEST = "best"
    RLE = "rle"


class Status(enum.IntEnum):
    """Status values registered by the Token Status List specification."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


class StatusList:
    """A mutable status list of ``size`` entries, ``bits`` bits each."""

    __slots__ = ("_data", "bits", "size")

    def __init__(self, size: int, bits: int = 1, data: bytes | bytearray | None = None) -> None:
        if bits not in ALLOWED_BITS:
            raise ValueError(f"bits must be one of {ALLOWED_BITS}")
        if size <= 0:
            raise ValueError("a status list has at least one entry")
        nbytes = (size * bits + 7) // 8
        if data is not None and len(data) < nbytes:
            raise ValueError("status list data shorter than its size")
        self.bits = bits
        self.size = size
        self._data = bytearray(data) if data is not None else bytearray(nbytes)

    def __getitem__(self, index: int) -> int:
        self._check_index(index)
        position = index * self.bits
        mask = (1 << self.bits) - 1
        return (self._data[position // 8] >> (position % 8)) & mask

    def __setitem__(self, index: int, value: int) -> None:
        self._check_index(index)
        if not 0 <= value < (1 << self.bits):
            raise ValueError(f"status {value} does not fit in {self.bits} bits")
        position = index * self.bits
        mask = ((1 << self.bits) - 1) << (position % 8)
        byte = position // 8
        self._data[byte] = (self._data[byte] & ~mask & 0xFF) | (value << (position % 8))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"status index {index} outside the list (size {self.size})")

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    def compressed(self, compression: Compression = Compression.BEST) -> bytes:
        """The ZLIB-format DEFLATE stream of the list (``lst`` before any base64)."""
        if compression is Compression.BEST:
            return zlib.compress(bytes(self._data), level=9)
        compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        return compressor.compress(self._data) + compressor.flush()

    def to_jwt_claim(self, compression: Compression = Compression.BEST) -> dict[str, Any]:
        """The ``status_list`` claim of the JWT form."""
        return {"bits": self.bits, "lst": _b64url(self.compressed(compression))}

    def to_cwt_claim(self, compression: Compression = Compression.BEST) -> dict[str, Any]:
        """The ``status_list`` claim (key 65533) of the CWT form."""
        return {"bits": self.bits, "lst": self.compressed(compression)}


def decode_jwt_claim(claim: object) -> StatusList:
    """Parse a JWT-form ``status_list`` claim; raise :class:`InvalidToken` when malformed."""
    bits, lst = _claim_fields(claim)
    if not isinstance(lst, str):
        raise InvalidToken("status list 'lst' must be a string", code="status_list_malformed")
    if len(lst) > MAX_COMPRESSED_BYTES * 4 // 3 + 4:
        raise InvalidToken("status list too large", code="status_list_too_large")
    return _from_compressed(bits, _b64url_decode(lst))


def decode_cwt_claim(claim: object) -> StatusList:
    """Parse a CWT-form ``status_list`` claim (``lst`` is a byte string)."""
    bits, lst = _claim_fields(claim)
    if not isinstance(lst, bytes):
        raise InvalidToken("status list 'lst' must be bytes", code="status_list_malformed")
    return _from_compressed(bits, lst)


def _claim_fields(claim: object) -> tuple[int, object]:
    if not isinstance(claim, dict) or "bits" not in claim or "lst" not in claim:
        raise InvalidToken("status_list needs 'bits' and 'lst'", code="status_list_malformed")
    bits = claim["bits"]
    if isinstance(bits, bool) or bits not in ALLOWED_BITS:
        raise InvalidToken("status list 'bits' must be 1, 2, 4 or 8", code="status_list_bits")
    return int(bits), claim["lst"]


def _from_compressed(bits: int, compressed: bytes) -> StatusList:
    if len(compressed) > MAX_COMPRESSED_BYTES:
        raise InvalidToken("status list too large", code="status_list_too_large")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, MAX_LIST_BYTES)
    except zlib.error:
        raise InvalidToken("status list is not ZLIB data", code="status_list_malformed") from None
    if inflater.unconsumed_tail:
        raise InvalidToken("status list decompresses too large", code="status_list_too_large")
    if not inflater.eof:
        raise InvalidToken("status list data truncated", code="status_list_malformed")
    if not data:
        raise InvalidToken("status list is empty", code="status_list_malformed")
    return StatusList(len(data) * 8 // bits, bits, data)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise InvalidToken(
            "status list 'lst' is not base64url", code="status_list_malformed"
        ) from None
