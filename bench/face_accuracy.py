"""Face matching accuracy on ../shared/data/faces: score distributions, FAR and FRR.

Run:  .venv/bin/python bench/face_accuracy.py [--frames-per-video N]

Samples: every labelled photo, plus N frames spread over each video (identity
``video_subject_k``). The ``sfas_*`` images are left out of all pairs: the data README
says nobody knows whether they show different people, so they must not be impostors
(and nothing says they are the same person either). They are used for the passive
presentation-attack report at the end.

For each matcher (SFace, the engine's; dlib, for comparison) it prints genuine and
impostor score distributions, then FAR/FRR at candidate thresholds overall and among
the East Asian subjects (the three video subjects: within-video pairs are genuine,
cross-video pairs impostors). It ends with the recommended SFace threshold: among the
candidates whose FAR is at most 0.1% both overall and among the East Asian subjects,
those with the fewest false rejects, and of those the highest (the safest).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _faces
from elicense.proofing.align import align_face
from elicense.proofing.detect import FaceBox, detect_faces
from elicense.proofing.matchers import (
    SFACE_THRESHOLD,
    DlibMatcher,
    Matcher,
    SFaceMatcher,
)
from elicense.proofing.passive import moire_score, stillness
from elicense.proofing.quality import to_gray

MAX_FAR = 0.001
EAST_ASIAN = ("video_subject_", "sfas_")
SFACE_CANDIDATES = [round(0.25 + 0.025 * i, 3) for i in range(15)]
DLIB_CANDIDATES = [round(1.0 - d, 3) for d in (0.40, 0.45, 0.50, 0.55, 0.60, 0.65)]


@dataclass
class Sample:
    name: str
    identity: str
    image: np.ndarray
    face: FaceBox


def _largest_face(name: str, image: np.ndarray) -> FaceBox | None:
    faces = detect_faces(image)
    if not faces:
        print(f"  (no face found in {name}; left out)")
        return None
    return faces[0]


def load_samples(frames_per_video: int) -> list[Sample]:
    folder = _faces.require_faces()
    samples: list[Sample] = []
    for label in _faces.labels():
        if label.identity.startswith("sfas_"):
            continue
        if label.kind == "photo":
            image = cv2.imread(str(folder / label.file))
            face = _largest_face(label.file, image)
            if face is not None:
                samples.append(Sample(label.file, label.identity, image, face))
        elif label.kind.startswith("video"):
            indices = _faces.spread(frames_per_video, _faces.frame_count(label.file))
            for index, frame in zip(indices, _faces.video_frames(label.file, indices), strict=True):
                face = _largest_face(f"{label.file}#{index}", frame)
                if face is not None:
                    samples.append(Sample(f"{label.file}#{index}", label.identity, frame, face))
    return samples


def _genuine_possible(identity: str) -> bool:
    return not identity.startswith("single_")


def score_pairs(
    matcher: Matcher, samples: list[Sample]
) -> tuple[list[tuple[Sample, Sample, float]], list[tuple[Sample, Sample, float]]]:
    vectors = [matcher.embed(s.image, s.face) for s in samples]
    genuine, impostor = [], []
    for (i, a), (j, b) in itertools.combinations(enumerate(samples), 2):
        score = matcher.similarity(vectors[i], vectors[j])
        if a.identity == b.identity and _genuine_possible(a.identity):
            genuine.append((a, b, score))
        elif a.identity != b.identity:
            impostor.append((a, b, score))
    return genuine, impostor


def _east_asian(a: Sample, b: Sample) -> bool:
    return a.identity.startswith(EAST_ASIAN) and b.identity.startswith(EAST_ASIAN)


def _summary(scores: list[float]) -> str:
    if not scores:
        return "n=0"
    return (
        f"n={len(scores)} min {min(scores):.3f} / median {statistics.median(scores):.3f}"
        f" / max {max(scores):.3f}"
    )


def _rates(genuine: list[float], impostor: list[float], threshold: float) -> tuple[int, int]:
    false_rejects = sum(1 for s in genuine if s < threshold)
    false_accepts = sum(1 for s in impostor if s >= threshold)
    return false_accepts, false_rejects


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} ({100.0 * count / total:.2f}%)" if total else "n/a"


def report(name: str, matcher: Matcher, samples: list[Sample], candidates: list[float]) -> float:
    genuine, impostor = score_pairs(matcher, samples)
    g_all = [s for _, _, s in genuine]
    i_all = [s for _, _, s in impostor]
    g_ea = [s for a, b, s in genuine if _east_asian(a, b)]
    i_ea = [s for a, b, s in impostor if _east_asian(a, b)]
    print(f"\n== {name} ({matcher.name}); score: higher = more alike ==")
    print(f"genuine   all: {_summary(g_all)}")
    print(f"impostor  all: {_summary(i_all)}")
    print(f"genuine   East Asian: {_summary(g_ea)}")
    print(f"impostor  East Asian: {_summary(i_ea)}")
    worst = sorted(impostor, key=lambda p: p[2], reverse=True)[:3]
    print("highest impostor pairs: " + ", ".join(f"{s:.3f}" for _, _, s in worst))
    print(f"{'threshold':>9} | {'FAR all':>18} | {'FRR all':>16} | {'FAR EA':>14} | {'FRR EA':>14}")
    compliant: list[tuple[int, float]] = []
    for threshold in candidates:
        fa, fr = _rates(g_all, i_all, threshold)
        fa_ea, fr_ea = _rates(g_ea, i_ea, threshold)
        print(
            f"{threshold:9.3f} | {_pct(fa, len(i_all)):>18} | {_pct(fr, len(g_all)):>16} |"
            f" {_pct(fa_ea, len(i_ea)):>14} | {_pct(fr_ea, len(g_ea)):>14}"
        )
        ok_all = fa <= MAX_FAR * len(i_all)
        ok_ea = fa_ea <= MAX_FAR * max(1, len(i_ea))
        if ok_all and ok_ea:
            compliant.append((fr + fr_ea, threshold))
    if not compliant:
        return max(candidates)
    fewest = min(errors for errors, _ in compliant)
    return max(threshold for errors, threshold in compliant if errors == fewest)


def spoof_report(samples: list[Sample]) -> None:
    folder = _faces.require_faces()
    print("\n== passive signals (reported, never deciding) ==")
    print("moire score (log10 peak/median of the face's high-frequency spectrum):")
    for label in _faces.labels():
        if label.identity.startswith("sfas_"):
            image = cv2.imread(str(folder / label.file))
            faces = detect_faces(image)
            if faces:
                score = moire_score(to_gray(align_face(image, faces[0])))
                print(f"  {label.file:22s} {label.kind:13s} {score:.3f}")
    live = [moire_score(to_gray(align_face(s.image, s.face))) for s in samples]
    print(f"  other live photos/frames: {_summary(live)}")
    thumbs = [to_gray(align_face(s.image, s.face)) for s in samples[:1]] * 15
    print(f"stillness of a still repeated 15 times: {stillness(thumbs):.2f} (live video: 0.00)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames-per-video", type=int, default=12)
    args = parser.parse_args()
    samples = load_samples(args.frames_per_video)
    identities = {s.identity for s in samples}
    print(f"{len(samples)} face samples, {len(identities)} identities")
    chosen = report("SFace", SFaceMatcher(), samples, SFACE_CANDIDATES)
    print("\n(dlib score = 1 - Euclidean distance: 0.400 is dlib's customary distance 0.6)")
    report("dlib", DlibMatcher(), samples, DLIB_CANDIDATES)
    spoof_report(samples)
    print(
        f"\nrecommended SFace threshold (FAR <= {MAX_FAR:.1%} overall and East Asian):"
        f" {chosen:.3f}; engine default SFACE_THRESHOLD = {SFACE_THRESHOLD}"
    )


if __name__ == "__main__":
    main()
