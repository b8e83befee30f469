"""Everything measured on one frame: the unit of work of the process pool.

:func:`analyse_frame` decodes, detects, measures quality, finds the 68 landmarks, and
embeds the aligned face. A frame that cannot be decoded raises :class:`BadImage` (the
client sent something that is not a camera frame). A frame without a usable face does
not raise: it is returned with ``issue`` set, and the liveness check decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from elicense.errors import FaceQualityError
from elicense.proofing import passive, quality
from elicense.proofing.align import align_face
from elicense.proofing.detect import FaceBox, detect_faces
from elicense.proofing.images import decode_image
from elicense.proofing.landmarks import eye_aspect_ratio, face_landmarks, head_yaw_degrees
from elicense.proofing.matchers import SFaceMatcher
from elicense.proofing.types import Gray, Vector

THUMB_SIZE = 32


@dataclass(frozen=True, slots=True)
class FrameAnalysis:
    """Measurements of one frame. Holds an embedding: keep in memory, never log."""

    issue: str | None
    face_center: tuple[float, float] = (0.0, 0.0)
    quality: quality.FaceQuality | None = None
    eye_aspect_ratio: float = 0.0
    yaw_deg: float = 0.0
    moire: float = 0.0
    embedding: Vector | None = None
    thumb: Gray | None = None

    @property
    def usable(self) -> bool:
        return self.issue is None


def _face_thumb(aligned_gray: Gray) -> Gray:
    size = (THUMB_SIZE, THUMB_SIZE)
    thumb: Gray = np.asarray(
        cv2.resize(aligned_gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    return thumb


def _measure_face(image: np.ndarray, gray: Gray, face: FaceBox) -> FrameAnalysis:
    aligned = align_face(image, face)
    aligned_gray = quality.to_gray(aligned)
    points = face_landmarks(gray, face)
    return FrameAnalysis(
        issue=None,
        face_center=face.center,
        quality=quality.measure(face, aligned_gray),
        eye_aspect_ratio=eye_aspect_ratio(points),
        yaw_deg=head_yaw_degrees(points),
        moire=passive.moire_score(aligned_gray),
        embedding=SFaceMatcher().embed_aligned(aligned),
        thumb=_face_thumb(aligned_gray),
    )


def analyse_frame(data: bytes, policy: quality.QualityPolicy) -> FrameAnalysis:
    """Analyse one encoded frame; ``issue`` carries the failed gate's code, if any."""
    image = decode_image(data)
    gray = quality.to_gray(image)
    try:
        quality.check_frame_exposure(gray)
        face = quality.single_face(detect_faces(image), policy)
    except FaceQualityError as error:
        return FrameAnalysis(issue=error.instance_code)
    return _measure_face(image, gray, face)
