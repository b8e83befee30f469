"""Active liveness: the asked actions happened, in order, by one moving person.

Works on :class:`~elicense.proofing.analysis.FrameAnalysis` records only (numbers),
so it is pure and fast; the heavy per-frame work happens in the frame pool.

* Blink: the eye aspect ratio drops to at most ``BLINK_CLOSED_RATIO`` of the burst's
  open level, with open eyes somewhere before and after, while facing the camera.
* Turn left / right: head yaw beyond ``TURN_DEGREES`` on the asked side.
* Events are ordered by frame; the challenge passes when its actions appear in that
  order (other natural movements in between are allowed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from elicense.proofing.analysis import FrameAnalysis
from elicense.proofing.challenge import Action, Challenge
from elicense.proofing.passive import stillness

#: Shortest burst, in seconds, between first and last capture time.
MIN_BURST_SECONDS = 1.5
MIN_FRAMES = 8
MAX_FRAMES = 40
#: Allowed difference between the wallet's capture times and the server's clock.
CLOCK_SKEW_SECONDS = 5.0
#: Yaw (degrees, see ``landmarks.head_yaw_degrees``) that counts as a head turn.
TURN_DEGREES = 18.0
#: Blinks are only read on frames turned less than this (EAR is unreliable beyond).
BLINK_MAX_YAW = 20.0
BLINK_CLOSED_RATIO = 0.65
BLINK_OPEN_RATIO = 0.85
BLINK_MIN_OPEN_EAR = 0.18
#: At most this fraction of frames may lack a usable face.
MAX_FACELESS_FRACTION = 0.34
#: More than this fraction of identical consecutive frames is a replayed still.
MAX_STILLNESS = 0.5


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """An action seen on frames ``start`` to ``end`` (inclusive)."""

    action: Action
    start: int
    end: int


def timing_problems(challenge: Challenge, times: Sequence[float], now: float) -> list[str]:
    """Reason codes for a burst that is too short, out of order or outside the window."""
    problems: list[str] = []
    if now > challenge.expires_at:
        problems.append("challenge_expired")
    if not MIN_FRAMES <= len(times) <= MAX_FRAMES:
        problems.append("wrong_frame_count")
        return problems
    if any(later <= earlier for earlier, later in itertools.pairwise(times)):
        problems.append("frames_out_of_order")
    if times[-1] - times[0] < MIN_BURST_SECONDS:
        problems.append("burst_too_short")
    early = times[0] < challenge.issued_at - CLOCK_SKEW_SECONDS
    late = times[-1] > min(now, challenge.expires_at) + CLOCK_SKEW_SECONDS
    if early or late:
        problems.append("frames_outside_window")
    return problems


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index - 1))
            start = None
    return runs


def _turn_events(frames: Sequence[FrameAnalysis]) -> list[ActionEvent]:
    yaw = [f.yaw_deg if f.usable else 0.0 for f in frames]
    left = _runs([y >= TURN_DEGREES for y in yaw])
    right = _runs([y <= -TURN_DEGREES for y in yaw])
    events = [ActionEvent(Action.TURN_LEFT, a, b) for a, b in left]
    return events + [ActionEvent(Action.TURN_RIGHT, a, b) for a, b in right]


def _open_level(frames: Sequence[FrameAnalysis]) -> float:
    ears = [f.eye_aspect_ratio for f in frames if f.usable and abs(f.yaw_deg) < BLINK_MAX_YAW]
    return float(np.percentile(ears, 80)) if ears else 0.0


def _blink_events(frames: Sequence[FrameAnalysis]) -> list[ActionEvent]:
    level = _open_level(frames)
    if level < BLINK_MIN_OPEN_EAR:
        return []
    facing = [f.usable and abs(f.yaw_deg) < BLINK_MAX_YAW for f in frames]
    ears = [f.eye_aspect_ratio for f in frames]
    closed = [ok and e <= BLINK_CLOSED_RATIO * level for ok, e in zip(facing, ears, strict=True)]
    opened = [ok and e >= BLINK_OPEN_RATIO * level for ok, e in zip(facing, ears, strict=True)]
    events: list[ActionEvent] = []
    for start, end in _runs(closed):
        if any(opened[:start]) and any(opened[end + 1 :]):
            events.append(ActionEvent(Action.BLINK, start, end))
    return events


def detect_actions(frames: Sequence[FrameAnalysis]) -> tuple[ActionEvent, ...]:
    """Every blink and turn in the burst, in frame order."""
    events = _blink_events(frames) + _turn_events(frames)
    return tuple(sorted(events, key=lambda event: (event.start, event.end)))


def actions_in_order(asked: Sequence[Action], events: Sequence[ActionEvent]) -> bool:
    """True when ``asked`` appears in ``events`` in order, each on later frames."""
    position = -1
    remaining = list(asked)
    for event in events:
        if remaining and event.action == remaining[0] and event.start > position:
            position = event.end
            remaining.pop(0)
    return not remaining


def liveness_problems(challenge: Challenge, frames: Sequence[FrameAnalysis]) -> list[str]:
    """Reason codes from the frames themselves: missing faces, stills, wrong actions."""
    problems: list[str] = []
    faceless = sum(1 for f in frames if not f.usable)
    if faceless > MAX_FACELESS_FRACTION * len(frames):
        problems.append("face_missing_in_frames")
    if any(f.issue == "multiple_faces" for f in frames):
        problems.append("multiple_faces")
    thumbs = [f.thumb for f in frames if f.thumb is not None]
    if len(thumbs) >= 2 and stillness(thumbs) > MAX_STILLNESS:
        problems.append("no_motion")
    if not actions_in_order(challenge.actions, detect_actions(frames)):
        problems.append("actions_not_performed")
    return problems
