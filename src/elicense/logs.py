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


def configure(level: str) -> None:
    """Configure the root logger (and uvicorn's) once at process start."""
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
