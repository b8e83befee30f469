"""Frames analysed in parallel across cores, models loaded once per worker process.

The pool uses the ``spawn`` start method (OpenCV and dlib hold threads and locks that a
``fork`` would copy in an undefined state). Each worker pins OpenCV to one thread and
loads the models in its initializer, so a session's frames cost only the inference.
Pools are kept per worker count for the life of the process; :func:`shutdown` ends them.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import cv2

from elicense.proofing import weights
from elicense.proofing.analysis import FrameAnalysis, analyse_frame
from elicense.proofing.quality import MATCH_FRAME_POLICY, QualityPolicy

_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    _exit_with_parent()
    cv2.setNumThreads(1)
    weights.warm_up()


def _exit_with_parent() -> None:
    """End this worker when the process that started it is gone, however it ended: a
    killed server (OOM, SIGKILL, a crash) never runs its shutdown, and each orphaned
    worker would otherwise keep its models (~150 MB) in memory for good."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a spawned worker
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
            _pools[workers] = pool
        return pool


def _analyse_policy(data: bytes, policy: QualityPolicy) -> FrameAnalysis:
    return analyse_frame(data, policy)


def analyse_frames(
    frames: Sequence[bytes],
    *,
    workers: int | None = None,
    policy: QualityPolicy = MATCH_FRAME_POLICY,
) -> list[FrameAnalysis]:
    """Analyse ``frames`` in order; ``workers=1`` runs in this process, no pool."""
    count = default_workers() if workers is None else workers
    count = max(1, min(count, len(frames)))
    if count == 1:
        return [analyse_frame(data, policy) for data in frames]
    chunk = math.ceil(len(frames) / count)
    policies = [policy] * len(frames)
    return list(_pool(count).map(_analyse_policy, frames, policies, chunksize=chunk))


def warm_pool(workers: int | None = None) -> None:
    """Start the pool's workers and load their models now, not on the first session."""
    count = default_workers() if workers is None else workers
    if count > 1:
        list(_pool(count).map(_noop, range(count * 2), chunksize=1))


def _noop(_: int) -> None:
    weights.warm_up()


def shutdown() -> None:
    """Stop every worker pool (tests, benches, service shutdown)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)
