"""Where the real test faces are, and helpers to read them.

The folder ``../shared/data/faces`` (from the repository root) is read in place and
never copied into the repository. Override its location with ``ELICENSE_FACES_DIR``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2

from elicense.proofing.engine import CapturedFrame
from elicense.proofing.images import encode_jpeg

REPO_ROOT = Path(__file__).resolve().parents[2]
FPS = 30.0


def faces_dir() -> Path:
    override = os.environ.get("ELICENSE_FACES_DIR")
    return Path(override) if override else (REPO_ROOT / ".." / "shared" / "data" / "faces")


def faces_available() -> bool:
    return (faces_dir() / "labels.csv").is_file()


@functools.cache
def photo(name: str) -> bytes:
    return (faces_dir() / name).read_bytes()


@functools.cache
def video_frames(name: str, start: int, stop: int, step: int) -> tuple[bytes, ...]:
    """JPEG frames ``start:stop:step`` of a video, as a wallet would send them."""
    capture = cv2.VideoCapture(str(faces_dir() / name))
    frames: list[bytes] = []
    try:
        for index in range(stop):
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                frames.append(encode_jpeg(frame, quality=85))
    finally:
        capture.release()
    return tuple(frames)


def burst(images: tuple[bytes, ...], *, start_time: float, interval: float) -> list[CapturedFrame]:
    return [CapturedFrame(data, start_time + i * interval) for i, data in enumerate(images)]
