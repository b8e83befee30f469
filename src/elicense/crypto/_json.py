"""Strict JSON for tokens: no duplicate member names, no NaN/Infinity, size-capped."""

from __future__ import annotations

import json
from typing import Any

from elicense.errors import InvalidToken


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidToken("JSON object has a duplicate member name", code="json_duplicate_member")
    return obj


def _no_constants(name: str) -> Any:
    raise InvalidToken(f"JSON constant {name} is not allowed", code="json_invalid")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def loads(data: bytes, *, what: str) -> Any:
    """Parse UTF-8 JSON strictly; raise :class:`InvalidToken` naming ``what`` on failure."""
    try:
        text = data.decode("utf-8")
        if text[:1].isspace():
            text = text.lstrip()
        value, end = _DECODER.raw_decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidToken(f"{what} is not valid JSON", code="json_invalid") from exc
    if end != len(text) and not text[end:].isspace():
        raise InvalidToken(f"{what} has data after the JSON value", code="json_invalid")
    return value


def loads_object(data: bytes, *, what: str) -> dict[str, Any]:
    """Parse a JSON object strictly (see :func:`loads`)."""
    value = loads(data, what=what)
    if not isinstance(value, dict):
        raise InvalidToken(f"{what} is not a JSON object", code="json_not_object")
    return value


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (the encoding we sign)."""
    return _ENCODER.encode(value).encode("utf-8")
