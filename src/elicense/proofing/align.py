"""Five-point similarity alignment to the ArcFace 112x112 template (SFace's input)."""

from __future__ import annotations

import cv2
import numpy as np

from elicense.proofing.detect import FaceBox
from elicense.proofing.types import Image

ALIGNED_SIZE = 112
#: Where the eyes, nose tip and mouth corners land in the 112x112 crop (InsightFace's
#: ArcFace template, also used by OpenCV's ``FaceRecognizerSF.alignCrop``).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(face: FaceBox) -> np.ndarray:
    """The 2x3 rotation+scale+shift that maps the face's landmarks onto the template."""
    matrix, _ = cv2.estimateAffinePartial2D(face.landmarks, ARCFACE_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        matrix, _ = cv2.estimateAffinePartial2D(face.landmarks, ARCFACE_TEMPLATE)
    return np.asarray(matrix, dtype=np.float64)


def align_face(image: Image, face: FaceBox) -> Image:
    """The aligned 112x112 face crop, still BGR like ``image``."""
    matrix = similarity_transform(face)
    size = (ALIGNED_SIZE, ALIGNED_SIZE)
    aligned = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)
    result: Image = np.ascontiguousarray(aligned, dtype=np.uint8)
    return result
