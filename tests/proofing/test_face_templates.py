"""Template bytes: round trip and refusal of anything malformed."""

from __future__ import annotations

import numpy as np
import pytest

from elicense.errors import ValidationFailed
from elicense.proofing.templates import FaceTemplate, dump_template, load_template


def _template() -> FaceTemplate:
    vector = np.linspace(-1, 1, 128, dtype=np.float32)
    return FaceTemplate("sface-2021dec-int8bq", vector / np.linalg.norm(vector))


def test_round_trip() -> None:
    original = _template()
    loaded = load_template(dump_template(original))
    assert loaded.matcher == original.matcher
    assert np.array_equal(loaded.vector, original.vector)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:4] + b"\x02" + b[5:],
        lambda b: b[:-4],
        lambda b: b + b"\x00",
        lambda b: b[:10],
        lambda b: b[:-4] + np.array([np.nan], dtype="<f4").tobytes(),
    ],
    ids=["bad_magic", "bad_version", "truncated", "trailing", "header_only", "nan"],
)
def test_malformed_templates_are_refused(mutate: object) -> None:
    assert callable(mutate)
    with pytest.raises(ValidationFailed) as caught:
        load_template(mutate(dump_template(_template())))
    assert caught.value.instance_code == "invalid_template"
