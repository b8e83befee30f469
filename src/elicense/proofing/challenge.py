"""Active-liveness challenges: two actions to perform, in order, before a deadline."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Protocol, TypeVar

from elicense import clock, ids

#: How long the wallet has to capture and send the burst.
CHALLENGE_TTL_SECONDS = 120
ACTIONS_PER_CHALLENGE = 2

T = TypeVar("T")


class Action(enum.StrEnum):
    """What the person is asked to do. Turns are from the person's own point of view."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


class RandomSource(Protocol):
    """Anything with ``choice`` (``secrets.SystemRandom()``, or a seeded one in tests)."""

    def choice(self, seq: list[T]) -> T: ...


@dataclass(frozen=True, slots=True)
class Challenge:
    """The actions asked for, a nonce for the session, and the validity window."""

    actions: tuple[Action, ...]
    nonce: str
    issued_at: float
    expires_at: float


def new_challenge(
    rng: RandomSource | None = None,
    *,
    issued_at: float | None = None,
    ttl_seconds: int = CHALLENGE_TTL_SECONDS,
) -> Challenge:
    """A fresh challenge of two actions drawn from ``rng`` (repeats allowed)."""
    source: RandomSource = rng if rng is not None else secrets.SystemRandom()
    start = float(clock.epoch()) if issued_at is None else issued_at
    actions = tuple(source.choice(list(Action)) for _ in range(ACTIONS_PER_CHALLENGE))
    return Challenge(actions, ids.secret_token(16), start, start + ttl_seconds)
