"""Status list size and republish time, against plain zlib in the same run.

Run:  .venv/bin/python bench/status_list.py [--entries 10000000] [--revoked 0.01] [--repeat 5]

A 1-bit list of ``--entries`` entries with ``--revoked`` of them revoked at random
indices. Printed:

* the published ``lst`` size for each DEFLATE encoder (zlib level 9 default strategy,
  zlib ``Z_RLE`` as published by the status service, zopfli when installed) against the
  entropy bound log2 C(n, k) bits (target: within 1.6x);
* the time to republish after one more revocation (set the bit, compress, sign the
  JWT and the CWT with ES256; target < 100 ms), as medians over ``--repeat`` runs, and
  its ratio to the baseline: one plain ``zlib.compress`` (default level) of the same bytes.

The database write (the list row is rewritten on each change) is not included.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import zlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from elicense.crypto.keystore import LocalSigner
from elicense.status.token import TokenClaims, sign_cwt, sign_jwt
from elicense.status.token_status_list import Compression, Status, StatusList

URI = "https://elicense.example.gov.cn/status/lists/sl_bench"


def entropy_bound_bytes(n: int, k: int) -> float:
    """log2 C(n, k) bits, in bytes: the least any encoding of k revoked of n can take."""
    bits = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)
    return bits / 8


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def build(n: int, k: int, rng: random.Random) -> StatusList:
    entries = StatusList(n, 1)
    for index in rng.sample(range(n), k):
        entries[index] = Status.INVALID
    return entries


def encoders(data: bytes) -> dict[str, Callable[[], bytes]]:
    def rle() -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        return compressor.compress(data) + compressor.flush()

    found: dict[str, Callable[[], bytes]] = {
        "zlib level 9 (default strategy)": lambda: zlib.compress(data, 9),
        "zlib Z_RLE (published)": rle,
    }
    try:
        import zopfli.zlib  # type: ignore[import-not-found,unused-ignore]

        found["zopfli (1 iteration)"] = lambda: bytes(zopfli.zlib.compress(data, numiterations=1))
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--revoked", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args()
    n, k = args.entries, round(args.entries * args.revoked)
    rng = random.Random(args.seed)
    entries = build(n, k, rng)
    data = entries.to_bytes()
    bound = entropy_bound_bytes(n, k)
    print(f"list: {n:,} entries x 1 bit = {len(data):,} bytes, {k:,} revoked (seed {args.seed})")
    print(f"entropy bound log2 C(n,k): {bound:,.0f} bytes\n")

    baseline_ms = median_ms(lambda: zlib.compress(data), args.repeat)
    baseline_size = len(zlib.compress(data))
    print(f"baseline: zlib.compress(level 6)  {baseline_size:>9,} bytes  {baseline_ms:8.1f} ms")
    print(f"{'encoder':<34}{'bytes':>9}  {'x bound':>7}  {'ms':>8}  {'x baseline':>10}")
    for name, encode in encoders(data).items():
        size = len(encode())
        ms = median_ms(encode, 1 if "zopfli" in name else args.repeat)
        print(f"{name:<34}{size:>9,}  {size / bound:7.3f}  {ms:8.1f}  {ms / baseline_ms:10.2f}")
    if "zopfli (1 iteration)" not in encoders(data):
        print("(zopfli not installed: pip install zopfli to compare)")

    signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    now = int(time.time())
    claims = TokenClaims(uri=URI, iat=now, exp=now + 86400, ttl=300)
    free = [i for i in rng.sample(range(n), args.repeat * 4) if entries[i] == Status.VALID]

    def republish_jwt() -> str:
        entries[free.pop()] = Status.INVALID
        return sign_jwt(entries, claims, signer, compression=Compression.RLE)

    def republish_cwt() -> bytes:
        entries[free.pop()] = Status.INVALID
        return sign_cwt(entries, claims, signer, compression=Compression.RLE)

    jwt_ms, cwt_ms = median_ms(republish_jwt, args.repeat), median_ms(republish_cwt, args.repeat)
    jwt_size, cwt_size = len(republish_jwt()), len(republish_cwt())
    print("\nrepublish after one revocation (set bit + Z_RLE + ES256 sign), target < 100 ms:")
    print(f"  JWT  {jwt_size:>9,} bytes  {jwt_ms:8.1f} ms  {jwt_ms / baseline_ms:6.2f}x baseline")
    print(f"  CWT  {cwt_size:>9,} bytes  {cwt_ms:8.1f} ms  {cwt_ms / baseline_ms:6.2f}x baseline")
    print(f"  CWT size / entropy bound: {cwt_size / bound:.3f} (target <= 1.6)")


if __name__ == "__main__":
    main()
