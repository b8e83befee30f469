"""Face matchers: an aligned face in, an identity vector out, and their comparison.

The engine only knows the :class:`Matcher` protocol, so a stronger model can be added
beside SFace. :class:`SFaceMatcher` is the one used for decisions; :class:`DlibMatcher`
exists for the accuracy bench only (its 128-d embedding confuses different East Asian
men at its usual threshold, see ``docs/face.md``).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from elicense.errors import FaceQualityError
from elicense.proofing import weights
from elicense.proofing.align import align_face
from elicense.proofing.detect import FaceBox
from elicense.proofing.types import Image, Vector

#: Default SFace acceptance threshold on cosine similarity, from
#: ``bench/face_accuracy.py`` on ``../shared/data/faces`` (115 faces, 26 identities,
#: 12 frames per video): the candidates with FAR <= 0.1% overall and among the East
#: Asian subjects and the fewest false rejects span 0.375-0.475; we take the highest.
#: Measured there: FAR 0/6206 impostor pairs (highest impostor 0.459, two look-alike
#: actors), FRR 0/349 genuine pairs (lowest genuine 0.489); East Asian FAR 0/432
#: (highest 0.371), FRR 0/198. A small data set: re-run the bench on more faces.
SFACE_THRESHOLD = 0.475
#: dlib's customary Euclidean-distance threshold, as ``1 - distance`` (bench only).
DLIB_THRESHOLD = 0.4


class Matcher(Protocol):
    """Turns a face into a unit vector; higher :meth:`similarity` means more alike."""

    @property
    def name(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    def embed(self, image: Image, face: FaceBox) -> Vector: ...

    def similarity(self, a: Vector, b: Vector) -> float: ...


def _unit(vector: np.ndarray) -> Vector:
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    if not np.isfinite(norm) or norm < 1e-6:
        raise FaceQualityError("The face could not be encoded.", code="no_face")
    unit: Vector = flat / np.float32(norm)
    return unit


def run_sface(aligned_bgr: Image) -> np.ndarray:
    """The bare SFace call on an aligned 112x112 crop: RGB, 0–255, NCHW."""
    blob = cv2.dnn.blobFromImage(aligned_bgr, 1.0, (112, 112), (0.0, 0.0, 0.0), swapRB=True)
    net = weights.SFACE.get()
    with weights.SFACE.lock:
        net.setInput(blob, weights.SFACE_INPUT_NAME)
        output = net.forward()
    return np.asarray(output)


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity of two unit vectors, clipped to ``[-1, 1]``."""
    if a.shape != b.shape:
        return -1.0
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


class SFaceMatcher:
    """OpenCV Zoo SFace (2021dec, int8), 128-d, cosine similarity."""

    name = "sface-2021dec-int8bq"
    threshold = SFACE_THRESHOLD

    def embed_aligned(self, aligned_bgr: Image) -> Vector:
        return _unit(run_sface(aligned_bgr))

    def embed(self, image: Image, face: FaceBox) -> Vector:
        return self.embed_aligned(align_face(image, face))

    def similarity(self, a: Vector, b: Vector) -> float:
        return cosine(a, b)


class DlibMatcher:
    """dlib's ResNet 128-d embedding on 68-point alignment. Bench comparison only."""

    name = "dlib-resnet-v1"
    threshold = DLIB_THRESHOLD

    def embed(self, image: Image, face: FaceBox) -> Vector:
        from elicense.proofing.landmarks import run_dlib_68
        from elicense.proofing.quality import to_gray

        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        shape = run_dlib_68(to_gray(image), face)
        descriptor = weights.DLIB_RESNET.get().compute_face_descriptor(rgb, shape)
        return np.asarray(descriptor, dtype=np.float32)

    def similarity(self, a: Vector, b: Vector) -> float:
        """``1 - Euclidean distance`` (dlib's vectors are not unit length)."""
        return 1.0 - float(np.linalg.norm(a - b))
