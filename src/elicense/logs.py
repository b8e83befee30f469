"""Logging set-up. Personal data never reaches a log line.

Code logs ids, never names, ID numbers or images. As a second line of defence every
handler gets :class:`RedactPersonalData`, which masks anything shaped like a resident ID
number (and long digit runs) before the record is written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from elicense.errors import ConfigError

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|\d{11,}")


def redact(text: str) -> str:
    return _ID_NUMBER.sub("[redacted]", text)


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


#: ``false`` (or ``0``/``no``/``off``): no access log line per request (``elicense serve
#: --no-access-log`` sets it for its workers). Default ``true``.
ACCESS_LOG_ENV = "ELICENSE_ACCESS_LOG"
_TRUE, _FALSE = ("1", "true", "t", "yes", "y", "on"), ("0", "false", "f", "no", "n", "off")


def access_log_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether uvicorn's access log is wanted (:data:`ACCESS_LOG_ENV`)."""
    raw = environ.get(ACCESS_LOG_ENV, "true").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{ACCESS_LOG_ENV} must be true or false")
    return raw in _TRUE


def configure(level: str) -> None:
    """Configure the root logger (and uvicorn's) once at process start; uvicorn's access
    log is left off when :func:`access_log_enabled` says so (no record is even made)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPersonalData())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    if not access_log_enabled():
        # as uvicorn's own --no-access-log: without a handler anywhere, it makes no record
        logging.getLogger("uvicorn.access").propagate = False
