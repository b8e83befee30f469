"""Logging set-up. Personal data never reaches a log line.

Code logs ids, never names, ID numbers or images. As a second line of defence every
handler gets :class:`RedactPersonalData`, which masks anything shaped like a resident ID
number (and long digit runs) before the record is written.
"""

from __future__ import annotations

import logging
import re

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


def configure(level: str, *, access_log: bool = True) -> None:
    """Configure the root logger (and uvicorn's) once at process start; uvicorn's access
    log is left off unless ``access_log`` (the ``ELICENSE_ACCESS_LOG`` setting): then no
    record is even made."""
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
    if not access_log:
        # as uvicorn's own --no-access-log: without a handler anywhere, it makes no record
        logging.getLogger("uvicorn.access").propagate = False
