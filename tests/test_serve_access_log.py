"""``elicense serve`` logs one line per request unless ``ELICENSE_ACCESS_LOG=false``
(or ``--no-access-log``)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from elicense import logs
from elicense.config import ACCESS_LOG_ENV, load_settings
from elicense.errors import ConfigError

COMMAND = [sys.executable, "-c", "from elicense.cli import main; main()", "serve"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_and_get(tmp_path: Path, extra: list[str], env: dict[str, str]) -> str:
    """Start ``elicense serve``, GET /healthz once, stop it; its stderr."""
    port = _free_port()
    log = tmp_path / f"serve-{port}.log"
    environment = {**os.environ, "ELICENSE_DATA_DIR": str(tmp_path / "data"), **env}
    environment.pop("ELICENSE_DATABASE_URL", None)
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*COMMAND, "--port", str(port), *extra],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.2)
            assert response.status_code == 200
            time.sleep(0.3)  # let the line be written
        finally:
            server.terminate()
            server.wait(timeout=30)
    return log.read_text()


@pytest.mark.parametrize(
    ("extra", "env", "logged"),
    [
        ([], {}, True),
        ([], {"ELICENSE_ACCESS_LOG": "false"}, False),
        (["--no-access-log"], {}, False),
    ],
)
def test_access_log_can_be_turned_off(
    tmp_path: Path, extra: list[str], env: dict[str, str], logged: bool
) -> None:
    stderr = _serve_and_get(tmp_path, extra, env)
    assert ("GET /healthz" in stderr) is logged, stderr


@pytest.mark.parametrize(("value", "wanted"), [("false", False), ("0", False), ("TRUE", True)])
def test_logs_configure_follows_the_setting(value: str, wanted: bool) -> None:
    settings = load_settings({ACCESS_LOG_ENV: value})
    assert settings.access_log is wanted
    access = logging.getLogger("uvicorn.access")
    saved = (logging.getLogger().handlers[:], logging.getLogger().level, access.propagate)
    try:
        logs.configure("INFO", access_log=settings.access_log)
        assert access.hasHandlers() is wanted
    finally:
        logging.getLogger().handlers[:], level, access.propagate = saved
        logging.getLogger().setLevel(level)


def test_a_bad_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="ELICENSE_ACCESS_LOG='sometimes'"):
        load_settings({ACCESS_LOG_ENV: "sometimes"})
