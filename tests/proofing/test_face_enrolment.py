"""Enrolment and 1:1 matching on the real photos; each unusable picture gets a clear error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_data import photo

from elicense.errors import BadImage, FaceQualityError
from elicense.proofing.engine import enroll
from elicense.proofing.images import decode_image, encode_jpeg
from elicense.proofing.matchers import SFACE_THRESHOLD, cosine
from elicense.proofing.templates import load_template

pytestmark = pytest.mark.faces

GENUINE = [
    ("person_a_1.jpg", "person_a_2.jpg"),
    ("person_b_1.jpg", "person_b_3.jpg"),
    ("person_c_1.jpg", "person_c_2.jpg"),
    ("person_g_1.jpg", "person_g_2.jpg"),
    ("person_h_1.jpg", "person_h_4.jpg"),
    ("person_j_1.jpg", "person_j_3.jpg"),
]
IMPOSTOR = [
    ("person_a_1.jpg", "person_b_1.jpg"),
    ("person_c_1.jpg", "person_d_1.jpg"),
    ("person_m_5.jpg", "person_o_2.jpg"),  # the closest impostor pair of the bench
    ("person_f_1.jpg", "single_4.jpg"),
    ("person_g_1.jpg", "person_i_1.jpg"),
]


def _score(a: str, b: str) -> float:
    ta, tb = load_template(enroll(photo(a))), load_template(enroll(photo(b)))
    return cosine(ta.vector, tb.vector)


@pytest.mark.parametrize(("a", "b"), GENUINE)
def test_genuine_pairs_are_accepted(a: str, b: str) -> None:
    assert _score(a, b) >= SFACE_THRESHOLD


@pytest.mark.parametrize(("a", "b"), IMPOSTOR)
def test_impostor_pairs_are_refused(a: str, b: str) -> None:
    assert _score(a, b) < SFACE_THRESHOLD


def _quality_code(data: bytes) -> str:
    with pytest.raises(FaceQualityError) as caught:
        enroll(data)
    return caught.value.instance_code


def test_no_face() -> None:
    gradient = np.tile(np.linspace(40, 220, 640, dtype=np.uint8), (480, 1))
    scene = cv2.merge([gradient, np.flipud(gradient), gradient])
    assert _quality_code(encode_jpeg(scene)) == "no_face"


def test_two_faces_side_by_side() -> None:
    left = decode_image(photo("person_a_1.jpg"))
    right = cv2.resize(decode_image(photo("person_c_2.jpg")), (left.shape[0], left.shape[0]))
    assert _quality_code(encode_jpeg(np.hstack([left, right]))) == "multiple_faces"


def test_tiny_face() -> None:
    assert _quality_code(photo("single_3.png")) == "face_too_small"
    small = cv2.resize(decode_image(photo("person_a_1.jpg")), (80, 112))
    canvas = np.full((480, 640, 3), 128, dtype=np.uint8)
    canvas[184:296, 280:360] = small
    assert _quality_code(encode_jpeg(canvas)) == "face_too_small"


def test_dark_frame() -> None:
    dark = (decode_image(photo("person_a_1.jpg")).astype(np.float32) * 0.08).astype(np.uint8)
    assert _quality_code(encode_jpeg(dark)) == "too_dark"


def test_turned_face_is_not_frontal() -> None:
    assert _quality_code(photo("person_b_4.jpg")) == "not_frontal"


@pytest.mark.parametrize(
    ("mutation", "code"),
    [("garbage", "undecodable_image"), ("truncated_jpeg", "undecodable_image")],
)
def test_bad_bytes(mutation: str, code: str) -> None:
    data = b"\x00garbage" if mutation == "garbage" else photo("person_a_1.jpg")[:20000]
    with pytest.raises(BadImage) as caught:
        enroll(data)
    assert caught.value.instance_code == code


def test_template_is_a_unit_sface_vector() -> None:
    template = load_template(enroll(photo("person_a_1.jpg")))
    assert template.matcher == "sface-2021dec-int8bq"
    assert template.vector.shape == (128,)
    assert abs(float(np.linalg.norm(template.vector)) - 1.0) < 1e-4
