"""SD-JWT Disclosures and digests (RFC 9901 Sections 4.2 and 4.2.3), and the
processing of embedded digests by a Verifier (Section 7.1, step 3 to 5).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from elicense import ids
from elicense.crypto import _json, base64url
from elicense.crypto.limits import Limits, check_size
from elicense.errors import InvalidDisclosure, InvalidToken
from elicense.formats._claim_paths import ClaimPath

SD = "_sd"
_SCALARS = frozenset({str, int, float, bool, type(None)})
SD_ALG = "_sd_alg"
ELLIPSIS = "..."
DEFAULT_SD_ALG = "sha-256"

#: ``_sd_alg`` values we understand (IANA "Named Information Hash Algorithm" names).
HASH_ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}


def digest(sd_alg: str, text: str) -> str:
    """base64url(hash(ASCII ``text``)): a Disclosure digest or a KB-JWT ``sd_hash``."""
    return base64url.encode(HASH_ALGORITHMS[sd_alg](text.encode("ascii")).digest())


SALT_BYTES = 16


def new_salts(count: int) -> list[str]:
    """``count`` fresh salts of 128 bits each (base64url), from one CSPRNG read."""
    pool = secrets.token_bytes(SALT_BYTES * count)
    encode = base64url.encode
    return [encode(pool[i : i + SALT_BYTES]) for i in range(0, len(pool), SALT_BYTES)]


class Disclosure(NamedTuple):
    """One Disclosure: ``[salt, name, value]`` (object property) or ``[salt, value]``."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @classmethod
    def create(cls, name: str | None, value: Any, salt: str | None = None) -> Disclosure:
        """A new Disclosure with a fresh 128-bit salt."""
        salt = salt or ids.secret_token(SALT_BYTES)
        return cls(base64url.encode(_array_json(salt, name, value)), salt, name, value)

    @classmethod
    def decode(cls, encoded: str, limits: Limits) -> Disclosure:
        """Parse a received Disclosure; malformed ones raise :class:`InvalidDisclosure`."""
        if len(encoded) > limits.max_disclosure_bytes:
            check_size(
                len(encoded), limits.max_disclosure_bytes, "disclosure", "disclosure_too_large"
            )
        try:
            raw = base64url.decode(encoded, what="disclosure")
        except InvalidToken as exc:
            raise InvalidDisclosure(exc.message, code="disclosure_bad_base64") from exc
        try:
            array = _json.loads(raw, what="disclosure")
        except InvalidToken as exc:
            raise InvalidDisclosure(exc.message, code="disclosure_not_json") from exc
        if type(array) is not list or len(array) not in (2, 3):
            raise InvalidDisclosure(
                "disclosure is not an array of 2 or 3 elements", code="disclosure_wrong_arity"
            )
        if not isinstance(array[0], str):
            raise InvalidDisclosure("disclosure salt is not a string", code="disclosure_bad_salt")
        if len(array) == 2:
            return _new_disclosure(cls, (encoded, array[0], None, array[1]))
        if not isinstance(array[1], str):
            raise InvalidDisclosure("disclosure name is not a string", code="disclosure_bad_name")
        return _new_disclosure(cls, (encoded, *array))


def _array_json(salt: str, name: str | None, value: Any) -> bytes:
    """``_json.dumps([salt, name, value])`` (or ``[salt, value]``), with a shortcut for
    the usual all-string Disclosure."""
    if type(value) is str and type(salt) is str and (name is None or type(name) is str):
        enc = _json.encode_string
        if name is None:
            return f"[{enc(salt)},{enc(value)}]".encode()
        return f"[{enc(salt)},{enc(name)},{enc(value)}]".encode()
    return _json.dumps([salt, value] if name is None else [salt, name, value])


#: ``Disclosure(*fields)`` without the Python-level ``NamedTuple.__new__`` wrapper.
_new_disclosure = tuple.__new__


def decoy_digest(sd_alg: str) -> str:
    """A digest that no Disclosure hashes to (RFC 9901 Section 4.2.5)."""
    return digest(sd_alg, ids.secret_token(16))


def index_disclosures(disclosures: Sequence[Disclosure], sd_alg: str) -> dict[str, Disclosure]:
    """Map digest -> Disclosure; the same Disclosure twice is rejected."""
    by_digest: dict[str, Disclosure] = {}
    hash_, encode = HASH_ALGORITHMS[sd_alg], base64url.encode
    for disclosure in disclosures:
        key = encode(hash_(disclosure.encoded.encode("ascii")).digest())  # digest(), inlined
        if key in by_digest:
            raise InvalidDisclosure("a disclosure is repeated", code="sd_jwt_duplicate_disclosure")
        by_digest[key] = disclosure
    return by_digest


@dataclasses.dataclass(slots=True)
class Unpacker:
    """Replaces embedded digests by disclosed values (RFC 9901 Section 7.1 step 3-5)."""

    by_digest: Mapping[str, Disclosure]
    max_depth: int
    seen: set[str] = dataclasses.field(default_factory=set)
    used: set[str] = dataclasses.field(default_factory=set)
    disclosed: list[ClaimPath] = dataclasses.field(default_factory=list)

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The processed payload; every rule violation raises."""
        claims = self._object(payload, 0, ())
        claims.pop(SD_ALG, None)
        if len(self.used) != len(self.by_digest):
            raise InvalidDisclosure(
                "a disclosure is not referenced by the SD-JWT",
                code="sd_jwt_unreferenced_disclosure",
            )
        return claims

    def _value(self, value: Any, depth: int, path: ClaimPath) -> Any:
        if depth > self.max_depth:
            raise InvalidToken("SD-JWT payload is nested too deeply", code="sd_jwt_too_deep")
        if isinstance(value, dict):
            return self._object(value, depth, path)
        if isinstance(value, list):
            return self._array(value, depth, path)
        return value

    def _object(self, obj: dict[str, Any], depth: int, path: ClaimPath) -> dict[str, Any]:
        # A scalar one level down is taken as is when that level is within max_depth
        # (what _value would do for it, minus the call).
        flat = depth < self.max_depth
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if flat and type(v) in _SCALARS:
                out[k] = v
            elif k != SD:
                out[k] = self._value(v, depth + 1, (*path, k))
        out.pop(SD, None)
        digests = obj.get(SD, [])
        if not isinstance(digests, list):
            raise InvalidToken("_sd is not an array", code="sd_jwt_sd_not_array")
        seen, used, by_digest = self.seen, self.used, self.by_digest
        for item in digests:
            # _claim, inlined for the common case of _sd digests
            if type(item) is not str or item in seen:
                self._claim(item)  # raises
            seen.add(item)
            disclosure = by_digest.get(item)
            if disclosure is None:
                continue
            used.add(item)
            name = disclosure.name
            if name is None:
                raise InvalidDisclosure(
                    "array-element disclosure referenced from _sd", code="disclosure_wrong_arity"
                )
            if name in (SD, ELLIPSIS):
                raise InvalidDisclosure(
                    f"disclosure uses the reserved name {name}", code="disclosure_reserved_name"
                )
            if name in out:
                raise InvalidDisclosure(
                    "disclosure overwrites an existing claim", code="disclosure_overwrites_claim"
                )
            out[name] = self._value(disclosure.value, depth + 1, (*path, name))
            self.disclosed.append((*path, name))
        return out

    def _array(self, array: list[Any], depth: int, path: ClaimPath) -> list[Any]:
        out: list[Any] = []
        for element in array:
            if not (isinstance(element, dict) and ELLIPSIS in element):
                out.append(self._value(element, depth + 1, (*path, len(out))))
                continue
            if len(element) != 1:
                raise InvalidToken(
                    "array digest object has other members", code="sd_jwt_bad_array_digest"
                )
            disclosure = self._claim(element[ELLIPSIS])
            if disclosure is None:
                continue
            if disclosure.name is not None:
                raise InvalidDisclosure(
                    "object-property disclosure used as array element",
                    code="disclosure_wrong_arity",
                )
            self.disclosed.append((*path, len(out)))
            out.append(self._value(disclosure.value, depth + 1, (*path, len(out))))
        return out

    def _claim(self, item: object) -> Disclosure | None:
        if not isinstance(item, str):
            raise InvalidToken("embedded digest is not a string", code="sd_jwt_digest_not_string")
        if item in self.seen:
            raise InvalidToken("a digest appears more than once", code="sd_jwt_duplicate_digest")
        self.seen.add(item)
        disclosure = self.by_digest.get(item)
        if disclosure is not None:
            self.used.add(item)
        return disclosure
