"""The one id generator of eLicense.

Ids are random, URL-safe and carry a short type prefix so that a reader of a log line
or a URL knows what an id names (``per_…`` person, ``mar_…`` marriage). They never
encode personal data. :func:`secret_token` makes bearer secrets (codes, tokens, nonces).
"""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A new random id such as ``per_9f3k2…`` (prefix + 128 random bits, base32-ish)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def secret_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe secret (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)
