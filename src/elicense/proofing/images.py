"""Image decoding with safety caps: bytes in, a BGR ``uint8`` array out.

Only JPEG and PNG are accepted. The pixel dimensions are read from the file header
*before* anything is decoded, so a decompression bomb (a tiny file that claims
20000x20000 pixels) is refused without allocating its pixels. Truncated files are
refused too: a JPEG must reach its end-of-image marker after the scan data, a PNG
must end with its ``IEND`` chunk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from elicense.errors import BadImage
from elicense.proofing.types import Image

#: Largest encoded image we read (a 640x480 camera JPEG is ~50 KB; an ID photo < 2 MB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Largest decoded image, in pixels (24 MP: any phone camera still, never a bomb).
MAX_IMAGE_PIXELS = 24_000_000
#: Longest side in pixels, whatever the pixel count.
MAX_IMAGE_SIDE = 8192

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}
_JPEG_SOS = 0xDA


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says, before any pixel is decoded."""

    format: Literal["jpeg", "png"]
    width: int
    height: int


def _undecodable(reason: str) -> BadImage:
    return BadImage(f"The image cannot be decoded: {reason}.", code="undecodable_image")


def _jpeg_marker_segments(data: bytes) -> tuple[int, int, int] | None:
    """Walk the JPEG markers; return ``(width, height, sos_offset)`` or ``None``."""
    size: tuple[int, int] | None = None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == _JPEG_SOS:
            return None if size is None else (size[0], size[1], pos)
        pos += 2 + length
    return None


def _jpeg_header(data: bytes) -> ImageHeader:
    found = _jpeg_marker_segments(data)
    if found is None:
        raise _undecodable("malformed JPEG header")
    width, height, sos = found
    if data.rfind(_JPEG_EOI, sos) < 0:
        raise _undecodable("truncated JPEG (no end-of-image marker)")
    return ImageHeader("jpeg", width, height)


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _undecodable("malformed PNG header")
    width, height = struct.unpack(">II", data[16:24])
    if not data.rstrip(b"\x00").endswith(_PNG_IEND):
        raise _undecodable("truncated PNG (no IEND chunk)")
    return ImageHeader("png", width, height)


def read_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the header; raises :class:`BadImage` if unusable."""
    if data.startswith(_JPEG_SOI):
        return _jpeg_header(data)
    if data.startswith(_PNG_SIGNATURE):
        return _png_header(data)
    raise _undecodable("not a JPEG or PNG file")


def check_size(header: ImageHeader, *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse images whose declared size is empty or above the caps."""
    if header.width < 1 or header.height < 1:
        raise _undecodable("the image has no pixels")
    too_many = header.width * header.height > max_pixels
    if too_many or max(header.width, header.height) > MAX_IMAGE_SIDE:
        raise BadImage(
            f"The image is too large ({header.width}x{header.height} pixels).",
            code="image_too_large",
        )


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image:
    """Decode JPEG/PNG ``data`` into a BGR ``uint8`` array, header-checked first."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BadImage("The image file is too large.", code="image_too_large")
    header = read_header(data)
    check_size(header, max_pixels=max_pixels)
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise _undecodable("the decoder rejected the data")
    if pixels.shape[0] * pixels.shape[1] != header.width * header.height:
        raise _undecodable("decoded size differs from the header")
    image: Image = np.ascontiguousarray(pixels, dtype=np.uint8)
    return image


def encode_jpeg(image: Image, *, quality: int = 90) -> bytes:
    """Encode a BGR image as JPEG bytes (tests, benches and clients use it)."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise _undecodable("the encoder rejected the image")
    return bytes(buffer.tobytes())
