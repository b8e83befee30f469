"""Passive presentation-attack signals: cheap, explainable, reported but never gating.

* :func:`moire_score` — screens (and some prints) photographed by a camera show fine
  periodic patterns; their spectrum has isolated high-frequency peaks. The score is
  the strongest high-frequency peak over the median high-frequency energy of the face.
* :func:`stillness` — a live camera never delivers two identical face crops in a row;
  a replayed still does. The score is the fraction of consecutive frame pairs whose
  face thumbnails are (almost) identical.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

from elicense.proofing.types import Gray

_MOIRE_SIZE = 128
#: Frequencies (in cycles per crop) above this radius count as "high".
_MOIRE_RADIUS = 24
#: Two thumbnails closer than this mean absolute difference (grey levels) are "identical".
IDENTICAL_DIFF = 0.75


def moire_score(face_gray: Gray) -> float:
    """Peak-to-median ratio of the face's high-frequency spectrum (log scale)."""
    crop = cv2.resize(face_gray, (_MOIRE_SIZE, _MOIRE_SIZE), interpolation=cv2.INTER_AREA)
    values = crop.astype(np.float32)
    values -= float(values.mean())
    window = np.outer(np.hanning(_MOIRE_SIZE), np.hanning(_MOIRE_SIZE)).astype(np.float32)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(values * window)))
    yy, xx = np.indices(spectrum.shape)
    radius = np.hypot(yy - _MOIRE_SIZE / 2, xx - _MOIRE_SIZE / 2)
    band = spectrum[radius > _MOIRE_RADIUS]
    median = float(np.median(band))
    if median <= 1e-6:
        return 0.0
    return float(np.log10(float(band.max()) / median))


def thumb_difference(a: Gray, b: Gray) -> float:
    """Mean absolute grey-level difference of two same-size thumbnails."""
    return float(np.mean(cv2.absdiff(a, b)))


def stillness(thumbs: Sequence[Gray]) -> float:
    """Fraction of consecutive thumbnail pairs that are (almost) identical, 0..1."""
    pairs = list(itertools.pairwise(thumbs))
    if not pairs:
        return 1.0
    same = sum(1 for a, b in pairs if thumb_difference(a, b) < IDENTICAL_DIFF)
    return same / len(pairs)
