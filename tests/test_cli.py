"""The ``elicense`` command: sub-commands mounted, clear errors, no stack traces."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicense.cli import app

runner = CliRunner()


def test_every_part_is_mounted() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("serve", "db", "registry", "clerk", "keys", "proofing", "verify", "demo")
    for command in (*commands, "events", "wallet"):
        assert command in result.output
    wallet = runner.invoke(app, ["wallet", "--help"])
    for command in ("receive", "list", "show", "present"):
        assert command in wallet.output


def test_db_upgrade_on_a_fresh_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELICENSE_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert (tmp_path / "elicense.db").exists()


def test_unreachable_database_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELICENSE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "storage_unavailable" in result.output
    assert "Traceback" not in result.output


def test_bad_configuration_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELICENSE_LOG_LEVEL", "LOUD")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "ELICENSE_LOG_LEVEL" in result.output


def test_proofing_enroll_reports_each_bad_photo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICENSE_DATA_DIR", str(tmp_path / "data"))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "110101199003074514.jpg").write_bytes(b"not a photo")
    (photos / "not-an-id-number.jpg").write_bytes(b"\xff\xd8\xff")
    result = runner.invoke(app, ["proofing", "enroll", str(photos)])
    assert result.exit_code == 1
    assert "0 enrolled, 2 failed" in result.output
    assert "not-an-id-number.jpg: id_number_format" in result.output
    assert "Traceback" not in result.output
