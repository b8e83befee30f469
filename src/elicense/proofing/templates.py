"""Reference templates: an embedding and the matcher that made it, as bytes.

Layout (all little-endian): magic ``b"ELFT"``, version ``1`` (1 byte), matcher name
length (1 byte) and ASCII name, dimension count (uint16), then float32 values.
Encryption at rest is the storage layer's job; these bytes are the plaintext.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from elicense.errors import ValidationFailed
from elicense.proofing.types import Vector

_MAGIC = b"ELFT"
_VERSION = 1
MAX_DIMENSIONS = 4096


@dataclass(frozen=True, slots=True)
class FaceTemplate:
    """A reference embedding and the name of the matcher that produced it."""

    matcher: str
    vector: Vector


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid face template: {reason}.", code="invalid_template")


def dump_template(template: FaceTemplate) -> bytes:
    """Serialise ``template`` to bytes."""
    name = template.matcher.encode("ascii")
    values = np.asarray(template.vector, dtype="<f4").reshape(-1)
    header = _MAGIC + struct.pack("<BB", _VERSION, len(name)) + name
    return header + struct.pack("<H", values.size) + values.tobytes()


def load_template(data: bytes) -> FaceTemplate:
    """Parse bytes made by :func:`dump_template`; raises on any inconsistency."""
    if len(data) < 8 or not data.startswith(_MAGIC):
        raise _invalid("bad header")
    version, name_length = struct.unpack("<BB", data[4:6])
    if version != _VERSION:
        raise _invalid("unknown version")
    name_end = 6 + name_length
    if len(data) < name_end + 2:
        raise _invalid("truncated")
    (count,) = struct.unpack("<H", data[name_end : name_end + 2])
    body = data[name_end + 2 :]
    if not 0 < count <= MAX_DIMENSIONS or len(body) != 4 * count:
        raise _invalid("wrong length")
    vector = np.frombuffer(body, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise _invalid("non-finite values")
    return FaceTemplate(data[6:name_end].decode("ascii", errors="replace"), vector)
