from __future__ import annotations

from pathlib import Path

import pytest

from elicense.config import load_settings
from elicense.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'elicense.db'}"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.log_level == "INFO"
    assert settings.is_sqlite


def test_plain_postgresql_url_uses_psycopg() -> None:
    settings = load_settings({"ELICENSE_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ELICENSE_DATABASE_URL": "mysql://x"}, "ELICENSE_DATABASE_URL"),
        ({"ELICENSE_PUBLIC_BASE_URL": "ftp://x"}, "ELICENSE_PUBLIC_BASE_URL"),
        ({"ELICENSE_PUBLIC_BASE_URL": "https://x/?q=1"}, "ELICENSE_PUBLIC_BASE_URL"),
        ({"ELICENSE_LOG_LEVEL": "LOUD"}, "ELICENSE_LOG_LEVEL"),
        ({"ELICENSE_REDIS_URL": "http://x"}, "ELICENSE_REDIS_URL"),
        ({"ELICENSE_REDIS_URL": "redis://127.0.0.1:6379/0"}, "ELICENSE_REDIS_URL is not supported"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(ConfigError, match="ELICENSE_DATA_DIR"):
        load_settings({"ELICENSE_DATA_DIR": str(file)})
