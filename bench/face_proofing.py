"""Latency of a proofing decision against the bare model calls, in the same run.

Run:  .venv/bin/python bench/face_proofing.py [--repeat 7]

A 15-frame 640x480 burst (video_blink_turn_1, every 6th frame, letterboxed, JPEG q85) is decided by
``evaluate_session``. Printed, as medians over ``--repeat`` runs:

* per-stage latency per frame: decode, detect, landmarks, embed, match;
* the whole decision on one core (in process, OpenCV pinned to one thread) against the
  bare model calls on the same frames (``imdecode`` + YuNet + dlib 68 + SFace, nothing
  else): the engine's overhead ratio (target <= 1.2);
* the whole decision with the 2-worker process pool against one core (target <= 0.6).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _faces
from elicense import clock
from elicense.proofing import parallel, weights
from elicense.proofing.challenge import Action, Challenge
from elicense.proofing.detect import detect_faces, run_yunet
from elicense.proofing.engine import CapturedFrame, enroll, evaluate_session
from elicense.proofing.images import decode_image
from elicense.proofing.landmarks import face_landmarks
from elicense.proofing.matchers import SFaceMatcher, run_sface
from elicense.proofing.quality import to_gray

VIDEO = "video_blink_turn_1.mp4"
NOW = 1_800_000_000.0


def median_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_calls(jpegs: list[bytes]) -> None:
    """The models alone: decode, YuNet, dlib 68 on its box, SFace on a box crop."""
    import dlib

    for data in jpegs:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        rows = run_yunet(image)
        if rows is None:
            continue
        x, y, w, h = (int(v) for v in rows[0][:4])
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        weights.DLIB_68.get()(gray, dlib.rectangle(x, y, x + w, y + h))
        crop = cv2.resize(image[max(0, y) : y + h, max(0, x) : x + w], (112, 112))
        run_sface(crop)


def stage_times(jpegs: list[bytes], repeat: int) -> dict[str, float]:
    images = [decode_image(d) for d in jpegs]
    faces = [detect_faces(i)[0] for i in images]
    grays = [to_gray(i) for i in images]
    matcher = SFaceMatcher()
    vectors = [matcher.embed(i, f) for i, f in zip(images, faces, strict=True)]
    pairs = list(zip(images, faces, strict=True))
    return {
        "decode": median_time(lambda: [decode_image(d) for d in jpegs], repeat),
        "detect": median_time(lambda: [detect_faces(i) for i in images], repeat),
        "landmarks": median_time(
            lambda: [face_landmarks(g, f) for g, f in zip(grays, faces, strict=True)], repeat
        ),
        "embed": median_time(lambda: [matcher.embed(i, f) for i, f in pairs], repeat),
        "match": median_time(lambda: [matcher.similarity(v, vectors[0]) for v in vectors], repeat),
    }


def session(jpegs: list[bytes]) -> list[CapturedFrame]:
    return [CapturedFrame(d, NOW - 3.0 + 0.2 * i) for i, d in enumerate(jpegs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    _faces.require_faces()
    cv2.setNumThreads(1)
    weights.warm_up()
    jpegs = _faces.session_jpegs(VIDEO, 15, (640, 480))
    reference = enroll(jpegs[0])
    challenge = Challenge((Action.BLINK, Action.BLINK), "bench", NOW - 10.0, NOW + 60.0)
    frames = session(jpegs)
    n = len(jpegs)

    stages = stage_times(jpegs, args.repeat)
    print(f"{n} frames 640x480, median of {args.repeat} runs, per frame:")
    for name, seconds in stages.items():
        print(f"  {name:10s} {1000 * seconds / n:7.2f} ms")

    with clock.frozen(NOW):
        decision = evaluate_session(challenge, frames, reference, workers=1)
        bare = median_time(lambda: bare_calls(jpegs), args.repeat)
        one = median_time(
            lambda: evaluate_session(challenge, frames, reference, workers=1), args.repeat
        )
        parallel.warm_pool(2)
        two = median_time(
            lambda: evaluate_session(challenge, frames, reference, workers=2), args.repeat
        )
    parallel.shutdown()
    print(
        f"decision: accepted={decision.accepted} reasons={decision.reasons}"
        f" actions seen={decision.actions_seen}"
    )
    print(f"bare model calls, 1 core : {1000 * bare:7.1f} ms")
    print(f"whole decision,   1 core : {1000 * one:7.1f} ms")
    print(f"whole decision,   2 cores: {1000 * two:7.1f} ms")
    print(f"overhead ratio (decision / bare calls, 1 core): {one / bare:.2f}  (target <= 1.2)")
    print(f"2-core / 1-core ratio:                          {two / one:.2f}  (target <= 0.6)")


if __name__ == "__main__":
    main()
