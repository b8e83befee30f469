"""Envelope encryption of personal data at rest (ID numbers, face templates).

Each value is encrypted with its own random data key (AES-256-GCM); the data key is
wrapped with the key-encryption key (AES key wrap, RFC 3394). The ``context`` string
(e.g. ``"person.id_number"``) is bound as associated data, so a ciphertext moved to
another column does not decrypt. :meth:`Sealer.blind_index` gives a keyed hash
(HMAC-SHA256) for equality look-ups and uniqueness without storing the plain value.

The keys live in ``ELICENSE_SEALING_KEY`` (base64 of 64 bytes: wrap key + index key) or,
for development, in ``<data dir>/keys/sealing.key`` created on first use (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from elicense.errors import ConfigError, CryptoError

_VERSION = b"\x01"
_KEY_ID_LEN = 8
_WRAPPED_LEN = 40
_NONCE_LEN = 12
_KEY_MATERIAL_LEN = 64


class Sealer:
    """Seals and unseals personal data with envelope keys."""

    def __init__(self, key_material: bytes) -> None:
        if len(key_material) != _KEY_MATERIAL_LEN:
            raise ConfigError("sealing key must be 64 bytes (base64 in ELICENSE_SEALING_KEY)")
        self._kek = key_material[:32]
        self._index_key = key_material[32:]
        self._kek_id = hashlib.sha256(b"kek-id" + self._kek).digest()[:_KEY_ID_LEN]

    @classmethod
    def generate(cls) -> Sealer:
        return cls(secrets.token_bytes(_KEY_MATERIAL_LEN))

    @classmethod
    def from_environment(cls, keys_dir: Path) -> Sealer:
        """Load from ``ELICENSE_SEALING_KEY`` or ``keys_dir/sealing.key`` (created if absent)."""
        encoded = os.environ.get("ELICENSE_SEALING_KEY")
        if encoded:
            return cls(_b64decode_key(encoded))
        path = keys_dir / "sealing.key"
        if not path.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(_KEY_MATERIAL_LEN)).decode())
        return cls(_b64decode_key(path.read_text().strip()))

    def seal(self, plaintext: bytes, context: str) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE_LEN)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context.encode())
        wrapped = aes_key_wrap(self._kek, data_key)
        return _VERSION + self._kek_id + wrapped + nonce + ciphertext

    def unseal(self, blob: bytes, context: str) -> bytes:
        head = 1 + _KEY_ID_LEN
        if len(blob) < head + _WRAPPED_LEN + _NONCE_LEN + 16 or blob[:1] != _VERSION:
            raise CryptoError("sealed value is malformed", code="sealed_malformed")
        if blob[1:head] != self._kek_id:
            raise CryptoError("sealed with another key", code="sealed_unknown_key")
        wrapped = blob[head : head + _WRAPPED_LEN]
        nonce = blob[head + _WRAPPED_LEN : head + _WRAPPED_LEN + _NONCE_LEN]
        try:
            data_key = aes_key_unwrap(self._kek, wrapped)
            return AESGCM(data_key).decrypt(
                nonce, blob[head + _WRAPPED_LEN + _NONCE_LEN :], context.encode()
            )
        except (InvalidUnwrap, InvalidTag):
            raise CryptoError(
                "sealed value failed authentication", code="sealed_tampered"
            ) from None

    def seal_text(self, value: str, context: str) -> bytes:
        return self.seal(value.encode(), context)

    def unseal_text(self, blob: bytes, context: str) -> str:
        return self.unseal(blob, context).decode()

    def blind_index(self, value: str, context: str) -> str:
        """Keyed hash of ``value`` for look-ups (hex, 64 chars)."""
        mac = hmac.new(self._index_key, context.encode() + b"\x00" + value.encode(), "sha256")
        return mac.hexdigest()


def _b64decode_key(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ConfigError("sealing key is not valid base64") from None
