"""SoftHSM2 tokens made at test time for the PKCS#11 issuer-key tests.

Needs Debian's ``softhsm2`` (``softhsm2-util`` and ``libsofthsm2.so``); tests using it
are skipped with the reason when it is missing, unless ``ELICENSE_REQUIRE_SOFTHSM=1``
(CI), where a missing SoftHSM2 is an error.

SoftHSM reads ``SOFTHSM2_CONF`` when the module is initialised, and a process loads
the module once; so a token's context finalises the module before and after, and the
next login initialises it again with the configuration in force.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

LIBRARIES = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
]
LIBRARY = next((p for p in LIBRARIES if Path(p).exists()), None)
UTIL = shutil.which("softhsm2-util")
if (LIBRARY is None or UTIL is None) and os.environ.get("ELICENSE_REQUIRE_SOFTHSM") == "1":
    raise RuntimeError("ELICENSE_REQUIRE_SOFTHSM=1 but SoftHSM2 is not installed")
requires_softhsm = pytest.mark.skipif(
    LIBRARY is None or UTIL is None,
    reason="SoftHSM2 not installed (Debian package: softhsm2)",
)


@dataclasses.dataclass(frozen=True)
class Token:
    """A SoftHSM2 token and the ``ELICENSE_*`` settings that select it."""

    label: str
    pin: str
    conf: Path
    pin_file: Path

    def env(self, **extra: str) -> dict[str, str]:
        assert LIBRARY is not None
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "ELICENSE_ISSUER_KEYSTORE": "pkcs11",
            "ELICENSE_PKCS11_MODULE": LIBRARY,
            "ELICENSE_PKCS11_TOKEN_LABEL": self.label,
            "ELICENSE_PKCS11_PIN_FILE": str(self.pin_file),
            **extra,
        }


def finalize_module() -> None:
    """Finalise the PKCS#11 module so that its next use re-reads ``SOFTHSM2_CONF``."""
    import pkcs11

    assert LIBRARY is not None
    with contextlib.suppress(pkcs11.PKCS11Error):
        pkcs11.lib(LIBRARY).finalize()


@contextlib.contextmanager
def softhsm_token(root: Path) -> Iterator[Token]:
    """A fresh token in ``root`` (``SOFTHSM2_CONF`` set for this process meanwhile)."""
    assert UTIL is not None
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    label = f"elicense-{secrets.token_hex(4)}"
    pin = str(secrets.randbelow(900_000) + 100_000)
    pin_file = root / "pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    finalize_module()
    command = [UTIL, "--init-token", "--free", "--label", label, "--pin", pin]
    subprocess.run([*command, "--so-pin", "97531864"], check=True, capture_output=True)
    try:
        yield Token(label=label, pin=pin, conf=conf, pin_file=pin_file)
    finally:
        finalize_module()
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
