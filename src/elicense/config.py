"""Settings from ``ELICENSE_*`` environment variables, validated once at start.

- ``ELICENSE_DATA_DIR``: where the embedded database, keys and wallet files live
  (default ``./var``).
- ``ELICENSE_DATABASE_URL``: SQLAlchemy URL, ``sqlite:///…`` or
  ``postgresql+psycopg://…`` (default: SQLite file in the data directory).
- ``ELICENSE_PUBLIC_BASE_URL``: the URL citizens and verifiers reach us at; it is the
  issuer identifier and the base of status list URIs (default ``http://127.0.0.1:8000``).
- ``ELICENSE_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` (default ``INFO``).
- ``ELICENSE_REDIS_URL``: optional Redis for short-lived protocol state (default: the
  database).

A bad value stops the process with one clear line naming the variable
(:class:`~elicense.errors.ConfigError`), never a stack trace.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from elicense.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_DB_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    public_base_url: str
    log_level: str
    redis_url: str | None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` naming the bad variable."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("ELICENSE_DATA_DIR", "var")).expanduser().absolute()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"ELICENSE_DATA_DIR={data_dir} exists and is not a directory")
    database_url = env.get("ELICENSE_DATABASE_URL") or f"sqlite:///{data_dir / 'elicense.db'}"
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(database_url),
        public_base_url=_base_url(env.get("ELICENSE_PUBLIC_BASE_URL", "http://127.0.0.1:8000")),
        log_level=_log_level(env.get("ELICENSE_LOG_LEVEL", "INFO")),
        redis_url=_redis_url(env.get("ELICENSE_REDIS_URL") or None),
    )


def _database_url(url: str) -> str:
    scheme = url.split(":", 1)[0]
    if scheme not in _DB_SCHEMES:
        raise ConfigError(
            f"ELICENSE_DATABASE_URL has scheme {scheme!r}; expected one of {', '.join(_DB_SCHEMES)}"
        )
    if scheme == "postgresql":
        return "postgresql+psycopg" + url[len("postgresql") :]
    return url


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"ELICENSE_PUBLIC_BASE_URL={url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError("ELICENSE_PUBLIC_BASE_URL must not have a query or fragment")
    return url.rstrip("/")


def _log_level(level: str) -> str:
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"ELICENSE_LOG_LEVEL={level!r}; expected one of {', '.join(LOG_LEVELS)}")
    return level.upper()


def _redis_url(url: str | None) -> str | None:
    if url is not None and urlsplit(url).scheme not in ("redis", "rediss"):
        raise ConfigError(f"ELICENSE_REDIS_URL={url!r} is not a redis:// URL")
    return url
