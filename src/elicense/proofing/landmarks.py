"""dlib's 68-point landmarks on a YuNet face, and the two measures liveness needs.

* Eye aspect ratio (Soukupová & Čech, 2016): eye height over eye width, averaged over
  both eyes; about 0.28 open, below 0.15 closed on our videos.
* Head yaw from the nose position between the jaw ends (a cylinder model): the nose tip
  sits at fraction ``r`` of the way from the image-left jaw point (0) to the image-right
  one (16), and ``yaw = asin(2r - 1)``. Positive yaw: the nose moved to the image right,
  i.e. the subject turned to **their own left** in an unmirrored camera frame. It is
  steadier than a 6-point ``solvePnP`` on our videos (no ±25° outliers).
"""

from __future__ import annotations

import math

import numpy as np

from elicense.proofing import weights
from elicense.proofing.detect import FaceBox
from elicense.proofing.types import Gray, Points

LANDMARK_COUNT = 68
_RIGHT_EYE = slice(36, 42)  # image-left eye
_LEFT_EYE = slice(42, 48)
_JAW_LEFT, _JAW_RIGHT, _NOSE_TIP = 0, 16, 30


def run_dlib_68(gray: Gray, face: FaceBox) -> object:
    """The bare dlib shape-predictor call on a YuNet box (engine and benchmark)."""
    import dlib

    box = dlib.rectangle(
        round(face.x), round(face.y), round(face.x + face.width), round(face.y + face.height)
    )
    return weights.DLIB_68.get()(gray, box)


def face_landmarks(gray: Gray, face: FaceBox) -> Points:
    """The 68 landmark points of ``face`` as a ``(68, 2)`` float array."""
    shape = run_dlib_68(gray, face)
    parts = shape.parts()  # type: ignore[attr-defined]
    points = np.array([(p.x, p.y) for p in parts], dtype=np.float32)
    return points


def _eye_ratio(eye: Points) -> float:
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * float(np.linalg.norm(eye[0] - eye[3]))
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def eye_aspect_ratio(points: Points) -> float:
    """Mean eye aspect ratio of both eyes."""
    return (_eye_ratio(points[_RIGHT_EYE]) + _eye_ratio(points[_LEFT_EYE])) / 2.0


def head_yaw_degrees(points: Points) -> float:
    """Approximate head yaw in degrees; positive when the subject turns to their left."""
    left = float(points[_JAW_LEFT][0])
    right = float(points[_JAW_RIGHT][0])
    if right - left <= 1.0:
        return 0.0
    ratio = (float(points[_NOSE_TIP][0]) - left) / (right - left)
    return math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * ratio - 1.0))))
