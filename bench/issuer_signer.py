"""Cost of finding the current issuer signer, against one ES256 signature in the same run.

Run:  .venv/bin/python bench/issuer_signer.py [--calls 20000] [--repeat 5]

Every credential and status list asks :meth:`IssuerKeys.signer_for` for its authority's
current signer. Printed, as medians over ``--repeat`` runs of ``--calls`` calls each, in
microseconds per call and as a ratio to the baseline (one ES256 signature of a
200-byte signing input, which every credential pays anyway):

* ``signer_for`` with the cache (one ``stat`` of the key index, settled);
* the stamp check alone (``FileKeyStore.stamp``);
* what ``signer_for`` did on every signature before the cache, at the least: read and
  parse the key index (the signer object itself was kept per key id);
* the uncached path today: ``FileKeyStore.current_signer`` re-reading the index and
  the chain file;
* ``signer_for`` during the two seconds after a rotation (index not yet settled: re-read).

With SoftHSM2 installed (``softhsm2-util``), the same for issuer keys in a PKCS#11 token
made in a temporary directory: the token's ES256 signature, ``signer_for`` within the
recheck interval, and the token stamp (object search) it costs once a second.

Keys are made in a temporary directory; nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from elicense.crypto.file_store import INDEX
from elicense.issuance.keys import PASSPHRASE_ENV, IssuerKeys

NAME = "civil_affairs"
SOFTHSM_MODULES = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
]


def per_call_us(action: Callable[[], object], calls: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            action()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault(PASSPHRASE_ENV, "bench-issuer-signer-passphrase")
    with tempfile.TemporaryDirectory() as tmp:
        keys = IssuerKeys(Path(tmp), [NAME], issuer_url="https://issuer.example.gov.cn")
        store = keys.store(NAME)
        index = Path(tmp) / NAME / INDEX
        settled = index.stat().st_mtime_ns - 10_000_000_000
        os.utime(index, ns=(settled, settled))  # as on a server running for a while
        signer = keys.signer_for(NAME)
        data = b"x" * 200
        calls, repeat = args.calls, args.repeat

        baseline = per_call_us(lambda: signer.sign(data), max(calls // 10, 100), repeat)
        rows = {
            "signer_for, cached (settled index)": per_call_us(
                lambda: keys.signer_for(NAME), calls, repeat
            ),
            "stamp check alone (one stat)": per_call_us(store.stamp, calls, repeat),
            "before the cache: read + parse index": per_call_us(
                lambda: json.loads(index.read_bytes()), max(calls // 10, 100), repeat
            ),
            "uncached: re-read index and chain": per_call_us(
                store.current_signer, max(calls // 10, 100), repeat
            ),
        }
        now = time.time_ns()
        os.utime(index, ns=(now, now))  # as just after a rotation
        rows["signer_for, index < 2 s old (re-read)"] = per_call_us(
            lambda: keys.signer_for(NAME), max(calls // 100, 20), repeat
        )

    print(f"baseline: one ES256 signature  {baseline:8.1f} us")
    print(f"{'lookup':<40}{'us/call':>9}  {'x baseline':>10}")
    for name, us in rows.items():
        print(f"{name:<40}{us:9.2f}  {us / baseline:10.3f}")
    hsm = hsm_rows(calls, repeat)
    if hsm is None:
        print("\n(SoftHSM2 not installed: no PKCS#11 figures)")
        return
    print(f"\nPKCS#11 (SoftHSM2); ratios to the same in-memory ES256 baseline ({baseline:.1f} us)")
    for name, us in hsm.items():
        print(f"{name:<40}{us:9.2f}  {us / baseline:10.3f}")


def hsm_rows(calls: int, repeat: int) -> dict[str, float] | None:
    util = shutil.which("softhsm2-util")
    module = next((p for p in SOFTHSM_MODULES if Path(p).exists()), None)
    if util is None or module is None:
        return None
    from elicense.config import load_settings
    from elicense.issuance.keys import open_issuer_keys

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "tokens").mkdir()
        conf = root / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)
        (root / "pin").write_text("123456\n")
        init = [util, "--init-token", "--free", "--label", "bench", "--pin", "123456"]
        subprocess.run([*init, "--so-pin", "87654321"], check=True, capture_output=True)
        env = {
            "ELICENSE_DATA_DIR": str(root / "data"),
            "ELICENSE_ISSUER_KEYSTORE": "pkcs11",
            "ELICENSE_PKCS11_MODULE": module,
            "ELICENSE_PKCS11_TOKEN_LABEL": "bench",
            "ELICENSE_PKCS11_PIN_FILE": str(root / "pin"),
        }
        keys = open_issuer_keys(load_settings(env), [NAME])
        try:
            signer = keys.signer_for(NAME)
            store = keys.store(NAME)
            few = max(calls // 100, 20)
            return {
                "HSM ES256 signature": per_call_us(lambda: signer.sign(b"x" * 200), few, repeat),
                "HSM signer_for, within 1 s recheck": per_call_us(
                    lambda: keys.signer_for(NAME), calls, repeat
                ),
                "HSM stamp (token object search)": per_call_us(store.stamp, few, repeat),
            }
        finally:
            keys.close()


if __name__ == "__main__":
    main()
