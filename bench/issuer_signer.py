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

Keys are made in a temporary directory; nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from elicense.crypto.file_store import INDEX
from elicense.issuance.keys import PASSPHRASE_ENV, IssuerKeys

NAME = "civil_affairs"


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


if __name__ == "__main__":
    main()
