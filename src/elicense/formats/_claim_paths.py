"""Claim paths: how we name a claim inside a JSON document.

A path is a tuple of steps, as in OpenID4VP DCQL claims path pointers: a ``str`` selects
an object member, an ``int`` an array element (counted in the fully disclosed array),
and ``None`` every element of an array. ``("address", "locality")``,
``("nationalities", 0)`` and ``("children", None, "name")`` are paths.
"""

from __future__ import annotations

from collections.abc import Iterable

Step = str | int | None
ClaimPath = tuple[Step, ...]


def step_matches(pattern: Step, step: Step) -> bool:
    """Does one pattern step select one concrete step?"""
    if step is None:
        return pattern is None
    if pattern is None:
        return isinstance(step, int)
    return type(pattern) is type(step) and pattern == step


def matches(pattern: ClaimPath, path: ClaimPath) -> bool:
    """Does ``pattern`` select exactly the claim at concrete ``path``?"""
    return len(pattern) == len(path) and all(
        step_matches(p, s) for p, s in zip(pattern, path, strict=True)
    )


def is_prefix(pattern: ClaimPath, path: ClaimPath) -> bool:
    """Does ``pattern`` select ``path`` or one of its ancestors?"""
    return len(pattern) <= len(path) and matches(pattern, path[: len(pattern)])


def leads_to(path: ClaimPath, pattern: ClaimPath) -> bool:
    """Is concrete ``path`` an ancestor of (or equal to) a claim ``pattern`` selects?"""
    return len(path) <= len(pattern) and matches(pattern[: len(path)], path)


def normalize(paths: Iterable[Iterable[Step]]) -> tuple[ClaimPath, ...]:
    """Tuples of validated steps; an empty path or a bad step raises ``ValueError``."""
    result = []
    for path in paths:
        steps = tuple(path)
        if not steps or any(s is not None and not isinstance(s, str | int) for s in steps):
            raise ValueError(f"invalid claim path {steps!r}")
        if any(isinstance(s, bool) for s in steps):
            raise ValueError(f"invalid claim path {steps!r}")
        result.append(steps)
    return tuple(result)


def render(path: ClaimPath) -> str:
    """A readable form such as ``address.locality`` or ``nationalities[0]``."""
    out = ""
    for step in path:
        if isinstance(step, str):
            out += f".{step}" if out else step
        else:
            out += "[*]" if step is None else f"[{step}]"
    return out
