"""``elicense proofing enroll`` on a real ID photo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from face_data import photo
from typer.testing import CliRunner

from elicense.cli import app
from elicense.registry import resident_id
from elicense.registry import service as registry
from elicense.registry.types import NewPerson, Sex
from elicense.runtime import open_runtime

pytestmark = pytest.mark.faces


def test_enroll_directory_stores_a_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICENSE_DATA_DIR", str(tmp_path / "data"))
    number = resident_id.generate(birth_date=dt.date(1985, 6, 1), sex=Sex.MALE, sequence=11)
    runtime = open_runtime()
    with runtime.db.transaction() as session:
        person = registry.create_person(
            session,
            runtime.sealer,
            NewPerson(number, "周杰", "Zhou Jie", Sex.MALE, dt.date(1985, 6, 1)),
        )
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / f"{number}.jpg").write_bytes(photo("person_b_1.jpg"))
    result = CliRunner().invoke(app, ["proofing", "enroll", str(photos)])
    assert result.exit_code == 0, result.output
    assert "1 enrolled, 0 failed" in result.output
    with runtime.db.transaction() as session:
        assert registry.get_reference_template(session, runtime.sealer, person.id) is not None
    runtime.db.dispose()
