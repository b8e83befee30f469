"""Settings from ``ELICENSE_*`` environment variables, validated once at start.

- ``ELICENSE_DATA_DIR``: where the embedded database, keys and wallet files live
  (default ``./var``).
- ``ELICENSE_DATABASE_URL``: SQLAlchemy URL, ``sqlite:///…`` or
  ``postgresql+psycopg://…`` (default: SQLite file in the data directory).
- ``ELICENSE_PUBLIC_BASE_URL``: the URL citizens and verifiers reach us at; it is the
  issuer identifier and the base of status list URIs (default ``http://127.0.0.1:8000``).
- ``ELICENSE_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` (default ``INFO``).
- ``ELICENSE_ACCESS_LOG``: one log line per HTTP request, ``true`` (default) or
  ``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``); ``elicense serve
  --no-access-log`` sets it for its workers.
- ``ELICENSE_REDIS_URL`` is refused: offers, pre-authorized codes, nonces, tokens and
  DPoP proof ids live in the database, where their single use commits or rolls back with
  the request's transaction (see docs/issuance.md); a setting that would be ignored
  stops start-up instead.
- ``ELICENSE_ISSUER_KEYSTORE``: where issuer signing keys live: ``file`` (default;
  passphrase-encrypted files under ``<data dir>/keys``) or ``pkcs11`` (an HSM). With
  ``pkcs11`` all three of these are required:

  - ``ELICENSE_PKCS11_MODULE``: path of the vendor's PKCS#11 library (``.so``);
  - ``ELICENSE_PKCS11_TOKEN_LABEL``: the label of the token holding the keys;
  - ``ELICENSE_PKCS11_PIN_FILE``: a file holding the user PIN (read at start; the PIN
    itself is never an environment variable, a setting value or a log line).

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
KEYSTORES = ("file", "pkcs11")
_TOKEN_LABEL_BYTES = 32  # CK_TOKEN_INFO.label
_DB_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
ACCESS_LOG_ENV = "ELICENSE_ACCESS_LOG"
_TRUE, _FALSE = ("1", "true", "t", "yes", "y", "on"), ("0", "false", "f", "no", "n", "off")


@dataclasses.dataclass(frozen=True, slots=True)
class Pkcs11Settings:
    """Where the HSM is: a PKCS#11 module, a token label and the file with the PIN."""

    module: Path
    token_label: str
    pin_file: Path


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    public_base_url: str
    log_level: str
    access_log: bool = True
    issuer_keystore: str = "file"
    pkcs11: Pkcs11Settings | None = None

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
    if env.get("ELICENSE_REDIS_URL"):
        raise ConfigError(
            "ELICENSE_REDIS_URL is not supported: protocol state lives in the database "
            "(single use commits with each request); unset it"
        )
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(database_url),
        public_base_url=_base_url(env.get("ELICENSE_PUBLIC_BASE_URL", "http://127.0.0.1:8000")),
        log_level=_log_level(env.get("ELICENSE_LOG_LEVEL", "INFO")),
        access_log=_boolean(ACCESS_LOG_ENV, env.get(ACCESS_LOG_ENV, "true")),
        issuer_keystore=_keystore(env.get("ELICENSE_ISSUER_KEYSTORE") or "file"),
        pkcs11=_pkcs11(env) if env.get("ELICENSE_ISSUER_KEYSTORE") == "pkcs11" else None,
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


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"{name}={raw!r}; expected true or false")
    return value in _TRUE


def _keystore(name: str) -> str:
    if name not in KEYSTORES:
        raise ConfigError(
            f"ELICENSE_ISSUER_KEYSTORE={name!r}; expected one of {', '.join(KEYSTORES)}"
        )
    return name


def _pkcs11(env: Mapping[str, str]) -> Pkcs11Settings:
    for name in (
        "ELICENSE_PKCS11_MODULE",
        "ELICENSE_PKCS11_TOKEN_LABEL",
        "ELICENSE_PKCS11_PIN_FILE",
    ):
        if not env.get(name):
            raise ConfigError(f"{name} is required when ELICENSE_ISSUER_KEYSTORE=pkcs11")
    module = Path(env["ELICENSE_PKCS11_MODULE"]).expanduser()
    if not module.is_file():
        raise ConfigError(f"ELICENSE_PKCS11_MODULE={str(module)!r} is not a file")
    label = env["ELICENSE_PKCS11_TOKEN_LABEL"]
    if len(label.encode("utf-8")) > _TOKEN_LABEL_BYTES or label != label.strip():
        raise ConfigError(
            f"ELICENSE_PKCS11_TOKEN_LABEL={label!r} is not a token label "
            f"(at most {_TOKEN_LABEL_BYTES} bytes, no surrounding spaces)"
        )
    pin_file = Path(env["ELICENSE_PKCS11_PIN_FILE"]).expanduser().absolute()
    if not pin_file.is_file() or not os.access(pin_file, os.R_OK):
        raise ConfigError(f"ELICENSE_PKCS11_PIN_FILE={str(pin_file)!r} is not a readable file")
    return Pkcs11Settings(module=module.absolute(), token_label=label, pin_file=pin_file)


def read_pin(settings: Pkcs11Settings) -> str:
    """The user PIN from ``ELICENSE_PKCS11_PIN_FILE`` (first line, without its newline)."""
    try:
        lines = settings.pin_file.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"ELICENSE_PKCS11_PIN_FILE={str(settings.pin_file)!r} cannot be read "
            f"({type(exc).__name__})"
        ) from exc
    if not lines or not lines[0]:
        raise ConfigError(f"ELICENSE_PKCS11_PIN_FILE={str(settings.pin_file)!r} is empty")
    return lines[0]
