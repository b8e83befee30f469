"""Pure liveness logic on synthetic measurements: timing, actions and their order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from elicense.errors import FaceMismatch, FaceQualityError, LivenessFailed
from elicense.proofing.analysis import FrameAnalysis
from elicense.proofing.challenge import Action, Challenge, new_challenge
from elicense.proofing.decision import PassiveSignals, ProofingDecision
from elicense.proofing.liveness import (
    actions_in_order,
    detect_actions,
    liveness_problems,
    timing_problems,
)

OPEN, CLOSED = 0.30, 0.12
CHALLENGE = Challenge((Action.BLINK, Action.TURN_LEFT), "nonce", 1000.0, 1120.0)


def _frame(ear: float = OPEN, yaw: float = 0.0, seed: int = 0) -> FrameAnalysis:
    thumb = np.random.default_rng(seed).integers(0, 256, (32, 32), dtype=np.uint8)
    return FrameAnalysis(issue=None, eye_aspect_ratio=ear, yaw_deg=yaw, thumb=thumb)


def _series(values: list[tuple[float, float]]) -> list[FrameAnalysis]:
    return [_frame(ear, yaw, seed) for seed, (ear, yaw) in enumerate(values)]


def test_new_challenge_has_two_actions_a_nonce_and_a_deadline() -> None:
    challenge = new_challenge(random.Random(1), issued_at=50.0)
    assert len(challenge.actions) == 2
    assert all(isinstance(a, Action) for a in challenge.actions)
    assert challenge.expires_at > challenge.issued_at == 50.0
    assert challenge.nonce != new_challenge(random.Random(1), issued_at=50.0).nonce


def test_good_timing_has_no_problems() -> None:
    assert timing_problems(CHALLENGE, [1001.0 + 0.2 * i for i in range(10)], 1010.0) == []


@pytest.mark.parametrize(
    ("times", "now", "problem"),
    [
        ([1001.0 + 0.1 * i for i in range(10)], 1010.0, "burst_too_short"),
        ([1001.0 + 0.2 * i for i in range(3)], 1010.0, "wrong_frame_count"),
        ([1001.0 + 0.2 * (9 - i) for i in range(10)], 1010.0, "frames_out_of_order"),
        ([1001.0 + 0.2 * i for i in range(10)], 1200.0, "challenge_expired"),
        ([900.0 + 0.2 * i for i in range(10)], 1010.0, "frames_outside_window"),
        ([1001.0 + 0.2 * i for i in range(10)], 990.0, "frames_outside_window"),
    ],
    ids=["too_short", "too_few", "out_of_order", "expired", "before_issue", "in_future"],
)
def test_timing_problems(times: list[float], now: float, problem: str) -> None:
    assert problem in timing_problems(CHALLENGE, times, now)


def test_blink_then_left_turn_in_order() -> None:
    frames = _series([(OPEN, 0), (CLOSED, 0), (OPEN, 0), (OPEN, 10), (OPEN, 30), (OPEN, 5)])
    events = detect_actions(frames)
    assert [e.action for e in events] == [Action.BLINK, Action.TURN_LEFT]
    assert actions_in_order([Action.BLINK, Action.TURN_LEFT], events)
    assert not actions_in_order([Action.TURN_LEFT, Action.BLINK], events)
    assert not actions_in_order([Action.TURN_RIGHT, Action.TURN_LEFT], events)


def test_two_blinks_need_two_separate_closures() -> None:
    one = detect_actions(_series([(OPEN, 0), (CLOSED, 0), (CLOSED, 0), (OPEN, 0)]))
    two = detect_actions(_series([(OPEN, 0), (CLOSED, 0), (OPEN, 0), (CLOSED, 0), (OPEN, 0)]))
    assert actions_in_order([Action.BLINK], one)
    assert not actions_in_order([Action.BLINK, Action.BLINK], one)
    assert actions_in_order([Action.BLINK, Action.BLINK], two)


def test_closed_eyes_while_turned_are_not_a_blink() -> None:
    frames = _series([(OPEN, 0), (CLOSED, 35), (OPEN, 0)])
    assert [e.action for e in detect_actions(frames)] == [Action.TURN_LEFT]


def test_right_turn_is_negative_yaw() -> None:
    events = detect_actions(_series([(OPEN, 0), (OPEN, -25), (OPEN, 0)]))
    assert [e.action for e in events] == [Action.TURN_RIGHT]


def test_repeated_still_frame_fails() -> None:
    still = _frame(OPEN, 0, seed=1)
    problems = liveness_problems(CHALLENGE, [still] * 10)
    assert "no_motion" in problems
    assert "actions_not_performed" in problems


def test_missing_faces_and_second_faces_fail() -> None:
    frames = _series([(OPEN, 0)] * 6) + [FrameAnalysis(issue="no_face")] * 4
    assert "face_missing_in_frames" in liveness_problems(CHALLENGE, frames)
    frames = [*_series([(OPEN, 0)] * 6), FrameAnalysis(issue="multiple_faces")]
    assert "multiple_faces" in liveness_problems(CHALLENGE, frames)


def _decision(reasons: tuple[str, ...]) -> ProofingDecision:
    return ProofingDecision(
        accepted=not reasons,
        reasons=reasons,
        challenge_nonce="nonce",
        matcher="m",
        match_score=None,
        threshold=0.5,
        same_person_min=None,
        actions_seen=(),
        frames_total=0,
        frames_usable=0,
        match_frame_index=None,
        passive=PassiveSignals(0.0, 0.0, 0.0),
        burst_digest="",
    )


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("face_mismatch", FaceMismatch),
        ("not_frontal", FaceQualityError),
        ("no_motion", LivenessFailed),
        ("challenge_expired", LivenessFailed),
    ],
)
def test_rejected_decision_raises_typed_error(reason: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        _decision((reason,)).require_accepted()
    assert getattr(caught.value, "instance_code", None) == reason


def test_accepted_decision_yields_verified_value() -> None:
    assert _decision(()).require_accepted() == "nonce"
