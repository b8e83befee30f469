"""Image decoding caps: garbage, truncation and decompression bombs are refused early."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elicense.errors import BadImage
from elicense.proofing.images import (
    MAX_IMAGE_BYTES,
    decode_image,
    encode_jpeg,
    read_header,
)


def _noise(width: int = 64, height: int = 48) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header is patched to claim ``width x height``."""
    data = bytearray(encode_jpeg(_noise(16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _code(data: bytes) -> str:
    with pytest.raises(BadImage) as caught:
        decode_image(data)
    return caught.value.instance_code


def test_jpeg_and_png_decode_to_bgr() -> None:
    image = _noise()
    ok, png = cv2.imencode(".png", image)
    assert ok
    assert decode_image(bytes(png.tobytes())).shape == (48, 64, 3)
    assert np.array_equal(decode_image(bytes(png.tobytes())), image)
    assert decode_image(encode_jpeg(image)).shape == (48, 64, 3)


def test_header_is_read_without_decoding() -> None:
    header = read_header(_jpeg_claiming(20000, 20000))
    assert (header.format, header.width, header.height) == ("jpeg", 20000, 20000)


@pytest.mark.parametrize("data", [b"", b"garbage bytes, not an image", b"\xff\xd8\xff"])
def test_garbage_bytes_are_undecodable(data: bytes) -> None:
    assert _code(data) == "undecodable_image"


def test_truncated_jpeg_is_refused() -> None:
    data = encode_jpeg(_noise(320, 240))
    assert _code(data[: len(data) // 2]) == "undecodable_image"


def test_truncated_png_is_refused() -> None:
    ok, png = cv2.imencode(".png", _noise())
    assert ok
    assert _code(bytes(png.tobytes())[:-20]) == "undecodable_image"


@pytest.mark.parametrize("make", [_jpeg_claiming, _png_claiming], ids=["jpeg", "png"])
def test_decompression_bomb_is_refused_before_decoding(make: object) -> None:
    assert callable(make)
    assert _code(make(20000, 20000)) == "image_too_large"


def test_zero_sized_image_is_refused() -> None:
    assert _code(_png_claiming(0, 10)) == "undecodable_image"


def test_oversized_file_is_refused() -> None:
    assert _code(b"\xff\xd8" + b"\x00" * MAX_IMAGE_BYTES) == "image_too_large"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.sampled_from([b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n"]))
def test_arbitrary_bytes_decode_or_raise_bad_image(body: bytes, prefix: bytes) -> None:
    codes: set[str] = set()
    try:
        image = decode_image(prefix + body)
    except BadImage as error:
        codes.add(error.instance_code)
    else:
        assert image.dtype == np.uint8
        assert image.ndim == 3
    assert codes <= {"undecodable_image", "image_too_large"}
