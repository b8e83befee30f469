"""Quality gates: exactly one face, big enough, sharp, well exposed, facing the camera.

Each gate raises :class:`~elicense.errors.FaceQualityError` (or :class:`BadImage` for
whole-frame exposure) with a stable code. Thresholds live in a :class:`QualityPolicy`;
the enrolment photo and the live match frame each have their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from elicense.errors import FaceQualityError
from elicense.proofing.detect import FaceBox
from elicense.proofing.types import Gray, Image


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """Thresholds of the quality gates."""

    min_face_px: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_yaw_deg: float
    max_roll_deg: float
    #: A second face counts when its box is at least this fraction of the main one's
    #: and the detector is at least this sure of it (YuNet's weak false positives on
    #: backgrounds score 0.6-0.7; real faces above 0.8).
    other_face_ratio: float = 0.5
    other_face_score: float = 0.75


#: ID-card / registry photo used to make the reference template.
ENROLMENT_POLICY = QualityPolicy(
    min_face_px=64,
    min_sharpness=15.0,
    min_brightness=45.0,
    max_brightness=225.0,
    max_yaw_deg=30.0,
    max_roll_deg=30.0,
)
#: The live frame matched against the reference (the most frontal of the burst).
MATCH_FRAME_POLICY = QualityPolicy(
    min_face_px=80,
    min_sharpness=10.0,
    min_brightness=45.0,
    max_brightness=225.0,
    max_yaw_deg=20.0,
    max_roll_deg=25.0,
)
#: Below this whole-frame mean brightness the frame is refused before detection.
MIN_FRAME_BRIGHTNESS = 30.0


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Measured quality of one aligned face (numbers only, never pixels)."""

    face_px: float
    sharpness: float
    brightness: float
    yaw_deg: float
    roll_deg: float


def to_gray(image: Image) -> Gray:
    gray: Gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    return gray


def check_frame_exposure(gray: Gray) -> None:
    """Refuse a frame too dark to hold a usable face (before running the detector)."""
    if float(gray.mean()) < MIN_FRAME_BRIGHTNESS:
        raise FaceQualityError("The picture is too dark.", code="too_dark")


def single_face(faces: tuple[FaceBox, ...], policy: QualityPolicy) -> FaceBox:
    """The one face of the picture; raises if there is none, several, or it is tiny."""
    if not faces:
        raise FaceQualityError("No face was found in the picture.", code="no_face")
    main = faces[0]
    others = [
        f
        for f in faces[1:]
        if f.size >= policy.other_face_ratio * main.size and f.score >= policy.other_face_score
    ]
    if others:
        raise FaceQualityError("More than one face is in the picture.", code="multiple_faces")
    if main.size < policy.min_face_px:
        raise FaceQualityError("The face is too small; come closer.", code="face_too_small")
    return main


def pose_from_five(face: FaceBox) -> tuple[float, float]:
    """``(yaw, roll)`` in degrees from YuNet's five points (coarse, for the gates)."""
    right_eye, left_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    dx, dy = float(left_eye[0] - right_eye[0]), float(left_eye[1] - right_eye[1])
    eye_distance = math.hypot(dx, dy)
    if eye_distance < 1.0:
        return (90.0, 90.0)
    roll = math.degrees(math.atan2(dy, dx))
    middle = (right_eye + left_eye) / 2.0
    offset = float(nose[0] - middle[0]) / eye_distance
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * offset))))
    return (yaw, roll)


def measure(face: FaceBox, aligned_gray: Gray) -> FaceQuality:
    """Sharpness (Laplacian variance), brightness and pose of an aligned face."""
    sharpness = float(cv2.Laplacian(aligned_gray, cv2.CV_64F).var())
    yaw, roll = pose_from_five(face)
    return FaceQuality(
        face_px=face.size,
        sharpness=sharpness,
        brightness=float(np.mean(aligned_gray)),
        yaw_deg=yaw,
        roll_deg=roll,
    )


def check_face(quality: FaceQuality, policy: QualityPolicy) -> None:
    """Raise the first failed gate of ``policy`` for ``quality``."""
    if quality.face_px < policy.min_face_px:
        raise FaceQualityError("The face is too small; come closer.", code="face_too_small")
    if quality.brightness < policy.min_brightness:
        raise FaceQualityError("The face is too dark.", code="too_dark")
    if quality.brightness > policy.max_brightness:
        raise FaceQualityError("The face is overexposed.", code="too_bright")
    if quality.sharpness < policy.min_sharpness:
        raise FaceQualityError("The picture is blurred.", code="too_blurry")
    if abs(quality.yaw_deg) > policy.max_yaw_deg or abs(quality.roll_deg) > policy.max_roll_deg:
        raise FaceQualityError("Please face the camera.", code="not_frontal")
