"""Shared helpers of the face benches: where the faces are, labels, video frames.

The faces live in ``../shared/data/faces`` (relative to the repository root) or in
``ELICENSE_FACES_DIR``; they are read in place and never copied.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from elicense.proofing.images import encode_jpeg

REPO_ROOT = Path(__file__).resolve().parents[1]


def faces_dir() -> Path:
    override = os.environ.get("ELICENSE_FACES_DIR")
    return Path(override) if override else REPO_ROOT / ".." / "shared" / "data" / "faces"


def require_faces() -> Path:
    folder = faces_dir()
    if not (folder / "labels.csv").is_file():
        sys.exit(f"face data not found at {folder} (set ELICENSE_FACES_DIR)")
    return folder


@dataclass(frozen=True)
class Label:
    file: str
    identity: str
    kind: str


def labels() -> list[Label]:
    with (require_faces() / "labels.csv").open(newline="") as handle:
        return [Label(r["file"], r["identity"], r["kind"]) for r in csv.DictReader(handle)]


def frame_count(name: str) -> int:
    capture = cv2.VideoCapture(str(faces_dir() / name))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def video_frames(name: str, indices: list[int]) -> list[np.ndarray]:
    """Decoded BGR frames at ``indices`` (sorted), read sequentially."""
    wanted = set(indices)
    capture = cv2.VideoCapture(str(faces_dir() / name))
    frames: list[np.ndarray] = []
    try:
        index = 0
        while len(frames) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    return frames


def spread(count: int, total: int) -> list[int]:
    """``count`` frame indices spread evenly over a video of ``total`` frames."""
    return [int(i) for i in np.linspace(0, total - 1, count + 2)[1:-1].round()]


def session_jpegs(name: str, count: int = 15, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """``count`` frames 0.2 s apart, letterboxed to ``size``, as JPEG (a wallet burst)."""
    step = 6
    frames = video_frames(name, list(range(0, count * step, step)))
    return [encode_jpeg(letterbox(f, size), quality=85) for f in frames]


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to fit ``size`` (width, height) without distortion, padded."""
    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    scaled = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
    top = (height - scaled.shape[0]) // 2
    left = (width - scaled.shape[1]) // 2
    bottom = height - scaled.shape[0] - top
    right = width - scaled.shape[1] - left
    return cv2.copyMakeBorder(scaled, top, bottom, left, right, cv2.BORDER_CONSTANT)
