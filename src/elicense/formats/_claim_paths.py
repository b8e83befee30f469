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
_STEP_TYPES = frozenset({str, int, type(None)})


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
        steps = path if type(path) is tuple else tuple(path)
        if not steps or not _STEP_TYPES.issuperset(map(type, steps)):
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


class PathSet:
    """A set of claim path patterns with set-speed answers for concrete paths."""

    __slots__ = ("_child_steps", "_exact", "_patterns", "_prefixes", "patterns")

    def __init__(self, patterns: Iterable[ClaimPath]) -> None:
        self.patterns = tuple(patterns)
        self._exact = frozenset([p for p in self.patterns if None not in p])
        self._patterns = tuple([p for p in self.patterns if None in p])
        self._prefixes: frozenset[ClaimPath] | None = None
        self._child_steps: dict[ClaimPath, frozenset[Step]] = {}

    def selects(self, path: ClaimPath) -> bool:
        """Does a pattern select exactly ``path``?"""
        if path in self._exact:
            return True
        return bool(self._patterns) and any(matches(p, path) for p in self._patterns)

    def matching(self, path: ClaimPath) -> list[ClaimPath]:
        """The patterns that select exactly ``path``."""
        found = [path] if path in self._exact else []
        return found + [p for p in self._patterns if matches(p, path)]

    def selects_self_or_ancestor(self, path: ClaimPath) -> bool:
        """Does a pattern select ``path`` or one of its ancestors?"""
        exact = self._exact
        for end in range(1, len(path) + 1):
            if path[:end] in exact:
                return True
        return bool(self._patterns) and any(is_prefix(p, path) for p in self._patterns)

    def wanted_child_steps(self, parent: ClaimPath) -> frozenset[Step] | None:
        """The steps ``s`` for which :meth:`wants` of ``(*parent, s)`` is true, or
        ``None`` when they are not a finite set known in advance.

        With exact patterns only, and none selecting ``parent`` or an ancestor, a child
        is wanted exactly when it is a prefix of a pattern.
        """
        if self._patterns or (parent and self.selects_self_or_ancestor(parent)):
            return None
        steps = self._child_steps.get(parent)
        if steps is None:
            depth = len(parent)
            steps = frozenset(
                [p[depth] for p in self._exact if len(p) > depth and p[:depth] == parent]
            )
            self._child_steps[parent] = steps
        return steps

    def wants(self, path: ClaimPath) -> bool:
        """Is ``path`` a selected claim, an ancestor of one or below one?

        The same as ``leads_below(path) or selects_self_or_ancestor(path)``, in one pass.
        """
        if self._prefixes is None:
            self._prefixes = frozenset(p[:i] for p in self._exact for i in range(1, len(p) + 1))
        if path in self._prefixes:
            return True
        exact = self._exact
        for end in range(1, len(path)):
            if path[:end] in exact:
                return True
        return bool(self._patterns) and any(
            leads_to(path, p) or is_prefix(p, path) for p in self._patterns
        )

    def leads_below(self, path: ClaimPath) -> bool:
        """Is ``path`` a selected claim or an ancestor of one?"""
        if self._prefixes is None:
            self._prefixes = frozenset(p[:i] for p in self._exact for i in range(1, len(p) + 1))
        if path in self._prefixes:
            return True
        return bool(self._patterns) and any(leads_to(path, p) for p in self._patterns)
