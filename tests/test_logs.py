from __future__ import annotations

import logging

import pytest

from elicense.logs import RedactPersonalData, redact


def test_resident_id_numbers_are_masked() -> None:
    assert redact("lookup 11010119900307451X failed") == "lookup [redacted] failed"
    assert redact("id 110101199003074514.") == "id [redacted]."
    assert redact("person per_3f2a ok") == "person per_3f2a ok"


def test_filter_rewrites_the_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("elicense.test.redact")
    logger.addFilter(RedactPersonalData())
    with caplog.at_level(logging.INFO, logger="elicense.test.redact"):
        logger.info("person %s not found", "110101199003074514")
    assert "110101199003074514" not in caplog.text
    assert "[redacted]" in caplog.text
