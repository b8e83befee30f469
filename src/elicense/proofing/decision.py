"""The outcome of a proofing session: scores and reason codes, never images.

A :class:`ProofingDecision` is a record for the service to store (audit, lockout
counting). The only way to get a :class:`VerifiedLiveFace` — what issuance needs — is
:meth:`ProofingDecision.require_accepted`, which raises the typed error otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from elicense.errors import FaceMismatch, FaceQualityError, LivenessFailed, ProofingError

#: Proof that a session passed liveness and the 1:1 match; carries the challenge nonce.
VerifiedLiveFace = NewType("VerifiedLiveFace", str)

#: Reason codes that mean "the face did not match the reference".
MISMATCH_REASONS = frozenset({"face_mismatch", "template_matcher_mismatch"})
#: Reason codes from the quality gates of the match frame.
QUALITY_REASONS = frozenset(
    {"no_face", "face_too_small", "too_dark", "too_bright", "too_blurry", "not_frontal"}
)


@dataclass(frozen=True, slots=True)
class PassiveSignals:
    """Presentation-attack signals, reported only (they never decide)."""

    moire_max: float
    moire_median: float
    stillness: float


@dataclass(frozen=True, slots=True)
class ProofingDecision:
    """What was decided and why. ``reasons`` are stable codes, empty when accepted."""

    accepted: bool
    reasons: tuple[str, ...]
    challenge_nonce: str
    matcher: str
    match_score: float | None
    threshold: float
    same_person_min: float | None
    actions_seen: tuple[str, ...]
    frames_total: int
    frames_usable: int
    match_frame_index: int | None
    passive: PassiveSignals
    burst_digest: str

    def require_accepted(self) -> VerifiedLiveFace:
        """The verified value, or raise the error of the first reason."""
        if self.accepted:
            return VerifiedLiveFace(self.challenge_nonce)
        raise _error_for(self.reasons[0] if self.reasons else "proofing_failed")


def _error_for(reason: str) -> ProofingError:
    if reason in MISMATCH_REASONS:
        return FaceMismatch("The face does not match the photo on record.", code=reason)
    if reason in QUALITY_REASONS:
        return FaceQualityError("No usable frontal face in the frames.", code=reason)
    return LivenessFailed("The liveness check failed.", code=reason)
