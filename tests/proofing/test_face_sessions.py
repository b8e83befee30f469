"""Whole proofing sessions on the real videos, stills and spoof pictures."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from face_data import FPS, burst, photo, video_frames

from elicense import clock
from elicense.errors import BadImage, FaceMismatch, LivenessFailed
from elicense.proofing.challenge import Action, Challenge
from elicense.proofing.decision import ProofingDecision
from elicense.proofing.engine import CapturedFrame, enroll, evaluate_session

pytestmark = pytest.mark.faces

T0 = 1_700_000_000.0
BLINK = Action.BLINK
LEFT, RIGHT = Action.TURN_LEFT, Action.TURN_RIGHT
# Windows chosen from the videos (about 3 s of blinks, about 9 s of turns).
BLINK_VIDEO = ("video_blink_2.mp4", 30, 121, 6)
TURN_VIDEO = ("video_turn_1.mp4", 0, 281, 20)  # turns right first, then left


def _frames(video: tuple[str, int, int, int]) -> list[CapturedFrame]:
    name, start, stop, step = video
    return burst(video_frames(name, start, stop, step), start_time=T0, interval=step / FPS)


def _reference(name: str) -> bytes:
    return enroll(video_frames(name, 0, 1, 1)[0])


def _decide(
    actions: Sequence[Action], frames: list[CapturedFrame], reference: bytes, workers: int = 1
) -> ProofingDecision:
    challenge = Challenge(tuple(actions), "nonce-1", T0 - 2.0, T0 + 60.0)
    with clock.frozen(frames[-1].captured_at + 1.0):
        return evaluate_session(challenge, frames, reference, workers=workers)


def test_blink_video_passes_a_blink_challenge() -> None:
    decision = _decide([BLINK, BLINK], _frames(BLINK_VIDEO), _reference(BLINK_VIDEO[0]))
    assert decision.accepted, decision.reasons
    assert decision.require_accepted() == "nonce-1"
    assert decision.match_score is not None
    assert decision.match_score > decision.threshold


def test_blink_video_fails_a_turn_challenge() -> None:
    decision = _decide([LEFT, BLINK], _frames(BLINK_VIDEO), _reference(BLINK_VIDEO[0]))
    assert decision.reasons == ("actions_not_performed",)
    with pytest.raises(LivenessFailed):
        decision.require_accepted()


def test_turn_video_passes_its_turns_in_order() -> None:
    decision = _decide([RIGHT, LEFT], _frames(TURN_VIDEO), _reference(TURN_VIDEO[0]))
    assert decision.accepted, decision.reasons


def test_turn_video_fails_the_reverse_order() -> None:
    decision = _decide([LEFT, RIGHT], _frames(TURN_VIDEO), _reference(TURN_VIDEO[0]))
    assert decision.reasons == ("actions_not_performed",)


def test_live_session_against_someone_elses_template_is_a_mismatch() -> None:
    decision = _decide([RIGHT, LEFT], _frames(TURN_VIDEO), _reference(BLINK_VIDEO[0]))
    assert decision.reasons == ("face_mismatch",)
    assert decision.match_score is not None
    assert decision.match_score < 0.3
    with pytest.raises(FaceMismatch):
        decision.require_accepted()


def test_two_cores_decide_like_one() -> None:
    frames, reference = _frames(BLINK_VIDEO), _reference(BLINK_VIDEO[0])
    one = _decide([BLINK, BLINK], frames, reference, workers=1)
    two = _decide([BLINK, BLINK], frames, reference, workers=2)
    assert two.accepted
    assert two.reasons == one.reasons
    assert two.match_score == pytest.approx(one.match_score, abs=1e-5)


@pytest.mark.parametrize("picture", ["live_1.jpg", "spoof_print_1.jpg", "spoof_replay_1.jpg"])
def test_still_picture_repeated_fails_liveness(picture: str) -> None:
    data = photo(picture)
    frames = burst((data,) * 12, start_time=T0, interval=0.2)
    decision = _decide([BLINK, LEFT], frames, enroll(photo("live_1.jpg")))
    assert not decision.accepted
    assert "no_motion" in decision.reasons
    assert "actions_not_performed" in decision.reasons
    # Passive signals are reported only; the bench shows moire does not separate these.
    assert decision.passive.stillness == 1.0
    assert decision.passive.moire_max > 0.0
    with pytest.raises(LivenessFailed):
        decision.require_accepted()


def test_frames_of_two_people_are_refused() -> None:
    name, start, stop, step = BLINK_VIDEO
    mine = video_frames(name, start, stop, step)
    other = video_frames("video_blink_turn_1.mp4", 0, 60, 6)
    frames = burst(mine[:8] + other[:6], start_time=T0, interval=0.2)
    decision = _decide([BLINK, BLINK], frames, _reference(name))
    assert "different_faces_in_frames" in decision.reasons


def test_expired_challenge_is_refused() -> None:
    frames = _frames(BLINK_VIDEO)
    challenge = Challenge((BLINK, BLINK), "n", T0 - 200.0, T0 - 80.0)
    with clock.frozen(T0 + 5.0):
        decision = evaluate_session(challenge, frames, _reference(BLINK_VIDEO[0]), workers=1)
    assert "challenge_expired" in decision.reasons


def test_a_garbage_frame_is_a_bad_image() -> None:
    frames = _frames(BLINK_VIDEO)
    frames[3] = CapturedFrame(b"not a jpeg", frames[3].captured_at)
    with pytest.raises(BadImage):
        _decide([BLINK, BLINK], frames, _reference(BLINK_VIDEO[0]))


def test_decision_holds_no_image_data() -> None:
    decision = _decide([BLINK, BLINK], _frames(BLINK_VIDEO), _reference(BLINK_VIDEO[0]))
    values = [getattr(decision, name) for name in ProofingDecision.__slots__]
    assert not any(isinstance(v, bytes | bytearray) for v in values)
    assert len(decision.burst_digest) == 64
