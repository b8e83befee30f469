"""The face identity-proofing engine: the public, pure API used by the service.

* :func:`start_challenge` — a random two-action challenge with nonce and deadline.
* :func:`enroll` — the reference template (bytes) from an ID / registry photo.
* :func:`evaluate_session` — liveness and 1:1 match of a burst of frames against a
  reference template, as a :class:`~elicense.proofing.decision.ProofingDecision`.

No database, no web, no storage: images are processed in memory and dropped; the
decision holds scores and reason codes only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from elicense import clock
from elicense.errors import FaceQualityError
from elicense.proofing import liveness, quality
from elicense.proofing.align import align_face
from elicense.proofing.analysis import FrameAnalysis
from elicense.proofing.challenge import Challenge, RandomSource, new_challenge
from elicense.proofing.decision import PassiveSignals, ProofingDecision
from elicense.proofing.detect import detect_faces
from elicense.proofing.images import decode_image
from elicense.proofing.matchers import SFaceMatcher
from elicense.proofing.parallel import analyse_frames
from elicense.proofing.passive import stillness
from elicense.proofing.templates import FaceTemplate, dump_template, load_template

#: Every usable facing frame must be at least this similar to the match frame (one
#: person throughout; well below the identity threshold to allow expressions and pose).
SAME_PERSON_THRESHOLD = 0.4
#: Frames turned further than this are left out of the same-person check.
SAME_PERSON_MAX_YAW = 45.0


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One camera frame: encoded JPEG/PNG bytes and its capture time (epoch seconds)."""

    image: bytes
    captured_at: float


def start_challenge(rng: RandomSource | None = None) -> Challenge:
    """A new challenge issued now (``rng`` defaults to the system CSPRNG)."""
    return new_challenge(rng)


def enroll(image: bytes, *, policy: quality.QualityPolicy = quality.ENROLMENT_POLICY) -> bytes:
    """Reference template bytes from one photo; raises a typed error if unusable."""
    pixels = decode_image(image)
    quality.check_frame_exposure(quality.to_gray(pixels))
    face = quality.single_face(detect_faces(pixels), policy)
    aligned = align_face(pixels, face)
    quality.check_face(quality.measure(face, quality.to_gray(aligned)), policy)
    matcher = SFaceMatcher()
    return dump_template(FaceTemplate(matcher.name, matcher.embed_aligned(aligned)))


def burst_digest(frames: Sequence[CapturedFrame]) -> str:
    """SHA-256 over the frames' own digests: the same burst always gives the same value."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(hashlib.sha256(frame.image).digest())
    return digest.hexdigest()


def _match_frame(frames: Sequence[FrameAnalysis]) -> int | None:
    usable = [i for i, f in enumerate(frames) if f.usable and f.embedding is not None]
    return min(usable, key=lambda i: abs(frames[i].yaw_deg)) if usable else None


def _same_person_min(frames: Sequence[FrameAnalysis], best: FrameAnalysis) -> float | None:
    assert best.embedding is not None
    scores = [
        float(np.dot(f.embedding, best.embedding))
        for f in frames
        if f.embedding is not None and abs(f.yaw_deg) <= SAME_PERSON_MAX_YAW
    ]
    return min(scores) if scores else None


def _quality_reason(frame: FrameAnalysis) -> str | None:
    assert frame.quality is not None
    try:
        quality.check_face(frame.quality, quality.MATCH_FRAME_POLICY)
    except FaceQualityError as error:
        return error.instance_code
    return None


def _passive(frames: Sequence[FrameAnalysis]) -> PassiveSignals:
    moire = [f.moire for f in frames if f.usable]
    thumbs = [f.thumb for f in frames if f.thumb is not None]
    return PassiveSignals(
        moire_max=max(moire, default=0.0),
        moire_median=float(np.median(moire)) if moire else 0.0,
        stillness=stillness(thumbs),
    )


def evaluate_session(
    challenge: Challenge,
    frames: Sequence[CapturedFrame],
    reference_template: bytes,
    *,
    workers: int | None = None,
) -> ProofingDecision:
    """Decide one proofing session. Raises only for frames that are not images."""
    reference = load_template(reference_template)
    matcher = SFaceMatcher()
    times = [frame.captured_at for frame in frames]
    reasons = liveness.timing_problems(challenge, times, float(clock.epoch()))
    analysed = analyse_frames([frame.image for frame in frames], workers=workers)
    reasons += liveness.liveness_problems(challenge, analysed)
    best_index = _match_frame(analysed)
    score: float | None = None
    same: float | None = None
    if best_index is None:
        reasons.append("no_face")
    else:
        best = analysed[best_index]
        assert best.embedding is not None
        same = _same_person_min(analysed, best)
        if same is not None and same < SAME_PERSON_THRESHOLD:
            reasons.append("different_faces_in_frames")
        quality_reason = _quality_reason(best)
        if quality_reason:
            reasons.append(quality_reason)
        if reference.matcher != matcher.name:
            reasons.append("template_matcher_mismatch")
        else:
            score = matcher.similarity(best.embedding, reference.vector)
            if score < matcher.threshold:
                reasons.append("face_mismatch")
    events = liveness.detect_actions(analysed)
    return ProofingDecision(
        accepted=not reasons,
        reasons=tuple(dict.fromkeys(reasons)),
        challenge_nonce=challenge.nonce,
        matcher=matcher.name,
        match_score=score,
        threshold=matcher.threshold,
        same_person_min=same,
        actions_seen=tuple(str(e.action) for e in events),
        frames_total=len(frames),
        frames_usable=sum(1 for f in analysed if f.usable),
        match_frame_index=best_index,
        passive=_passive(analysed),
        burst_digest=burst_digest(frames),
    )
