"""Face detection with YuNet (OpenCV Zoo): boxes, five landmarks and a score."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from elicense.proofing import weights
from elicense.proofing.types import Image, Points

#: Images are shrunk to this longest side before detection (faces stay > 60 px in any
#: acceptable photo); coordinates are mapped back to the original image.
DETECT_MAX_SIDE = 800


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One detected face: box ``(x, y, width, height)``, 5 landmarks, detector score.

    Landmarks are the right eye, left eye (from the subject's point of view: image left
    first), nose tip, right and left mouth corners, as YuNet orders them.
    """

    x: float
    y: float
    width: float
    height: float
    landmarks: Points
    score: float

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return min(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)


def _scale_for(image: Image) -> float:
    longest = max(image.shape[0], image.shape[1])
    return min(1.0, DETECT_MAX_SIDE / float(longest))


def _to_face(row: np.ndarray, scale: float) -> FaceBox:
    values = row.astype(np.float32) / np.float32(scale)
    return FaceBox(
        x=float(values[0]),
        y=float(values[1]),
        width=float(values[2]),
        height=float(values[3]),
        landmarks=np.ascontiguousarray(values[4:14].reshape(5, 2), dtype=np.float32),
        score=float(row[14]),
    )


def _prominence(face: FaceBox) -> float:
    return face.width * face.height * face.score


def run_yunet(image: Image) -> np.ndarray | None:
    """The bare YuNet call on ``image`` (used by the engine and the benchmark)."""
    detector = weights.YUNET.get()
    with weights.YUNET.lock:
        detector.setInputSize((image.shape[1], image.shape[0]))
        _, rows = detector.detect(image)
    return rows if rows is None else np.asarray(rows)


def detect_faces(image: Image) -> tuple[FaceBox, ...]:
    """All faces YuNet finds in ``image``, most prominent (area x score) first."""
    scale = _scale_for(image)
    work = image
    if scale < 1.0:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        work = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    rows = run_yunet(work)
    if rows is None:
        return ()
    faces = [_to_face(row, scale) for row in rows]
    return tuple(sorted(faces, key=_prominence, reverse=True))
