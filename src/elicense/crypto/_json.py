"""Strict JSON for tokens: no duplicate member names, no NaN/Infinity, size-capped."""

from __future__ import annotations

import json
from collections.abc import Callable
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
#: What ``_DECODER.raw_decode`` runs, without its Python-level wrapper; it raises
#: ``StopIteration`` where ``raw_decode`` raises ``JSONDecodeError``.
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def loads(data: bytes, *, what: str) -> Any:
    """Parse UTF-8 JSON strictly; raise :class:`InvalidToken` naming ``what`` on failure."""
    try:
        text = data.decode("utf-8")
        if text[:1].isspace():
            text = text.lstrip()
        value, end = _scan(text, 0)
    except (UnicodeDecodeError, ValueError, RecursionError, StopIteration) as exc:
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
#: JSON string literal of a ``str``, as the encoder writes it (``ensure_ascii=False``).
encode_string: Callable[[str], str] = json.encoder.encode_basestring
_encode_string = encode_string


def _make_c_encoder() -> Callable[[Any], str] | None:
    """The C encoder :meth:`json.JSONEncoder.encode` would build, made directly (it is
    what ``encode`` runs for a non-string value, minus its Python-level set-up)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return None
    enc = _ENCODER

    def encode(value: Any) -> str:
        chunks = make({}, enc.default, _encode_string, None, ":", ",", False, False, enc.allow_nan)(
            value, 0
        )
        return "".join(chunks)

    sample = {"a": [1, 2.5, True, None, "é\n\u2028"], "b": {}}
    try:
        if encode(sample) == _ENCODER.encode(sample):
            return encode
    except TypeError:  # pragma: no cover - a C signature we do not know
        pass
    return None  # pragma: no cover


_c_encode = _make_c_encoder() or _ENCODER.encode


def dumps_text(value: Any) -> str:
    """Compact JSON text, exactly as ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)``; an array of strings (a Disclosure) takes a shortcut."""
    if type(value) is list and all(type(v) is str for v in value):
        return "[" + ",".join(map(_encode_string, value)) + "]"
    if type(value) is str:
        return _encode_string(value)
    return _c_encode(value)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (the encoding we sign)."""
    return dumps_text(value).encode("utf-8")
