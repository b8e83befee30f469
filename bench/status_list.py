"""Status list size and republish time, against plain zlib in the same run.

Run:  .venv/bin/python bench/status_list.py [--entries 10000000] [--revoked 0.01] [--repeat 5]

A 1-bit list of ``--entries`` entries with ``--revoked`` of them revoked at random
indices. Printed:

* the published ``lst`` size for each DEFLATE encoder (zlib level 9 default strategy,
  zlib ``Z_RLE`` as published by the status service, zopfli when installed) against the
  entropy bound log2 C(n, k) bits (target: within 1.6x);
* per published form (JWT, CWT): the raw token size and the size sent to a client
  that accepts gzip (the HTTP content coding the status endpoint applies, the same
  :func:`elicense.status.api.encode`; the token goes plain when gzip would not make it
  smaller), each against the entropy bound (target: within 1.6x);
* the time to republish after one more revocation (set the bit, compress, sign the
  JWT and the CWT with ES256, then gzip the token for HTTP; target < 100 ms), as
  medians over ``--repeat`` runs, and its ratio to the baseline: one plain
  ``zlib.compress`` (default level) of the same bytes.

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
from elicense.status import api as status_api
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
    free = [i for i in rng.sample(range(n), args.repeat * 8) if entries[i] == Status.VALID]

    forms: dict[str, Callable[[], bytes]] = {
        "JWT": lambda: sign_jwt(entries, claims, signer, compression=Compression.RLE).encode(),
        "CWT": lambda: sign_cwt(entries, claims, signer, compression=Compression.RLE),
    }
    print("\npublished token per form (Z_RLE inside, ES256), target <= 1.6x the bound:")
    print(f"{'form':<6}{'raw bytes':>11}  {'x bound':>7}  {'gzip-sent bytes':>15}  {'x bound':>7}")
    for name, sign in forms.items():
        token = sign()
        sent = min(len(status_api.encode(token, status_api.GZIP)), len(token))
        raw = len(token)
        print(f"{name:<6}{raw:>11,}  {raw / bound:7.3f}  {sent:>15,}  {sent / bound:7.3f}")

    print("\nrepublish after one revocation, target < 100 ms (median of", args.repeat, "runs):")
    print(f"{'form':<6}{'set+sign ms':>12}  {'+ gzip ms':>10}  {'total ms':>9}  {'x baseline':>10}")
    for name, sign in forms.items():

        def republish(sign: Callable[[], bytes] = sign) -> bytes:
            entries[free.pop()] = Status.INVALID
            return sign()

        def republish_and_gzip(sign: Callable[[], bytes] = sign) -> bytes:
            entries[free.pop()] = Status.INVALID
            return status_api.encode(sign(), status_api.GZIP)

        signed_ms = median_ms(republish, args.repeat)
        total_ms = median_ms(republish_and_gzip, args.repeat)
        print(
            f"{name:<6}{signed_ms:12.1f}  {total_ms - signed_ms:10.1f}  {total_ms:9.1f}  "
            f"{total_ms / baseline_ms:10.2f}"
        )


if __name__ == "__main__":
    main()
