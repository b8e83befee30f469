"""The encrypted local wallet file: holder keys and received credentials.

One file per wallet (default ``~/.elicense/wallet.json.enc``). The file is a small JSON
envelope around one AES-256-GCM ciphertext::

    {"format": "elicense-wallet", "version": 1,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<b64url>"},
     "cipher": "A256GCM", "check": "<b64url>", "nonce": "<b64url>",
     "ciphertext": "<b64url>"}

scrypt turns the passphrase into 64 bytes: the first 32 are the AES key, the last 32 an
HMAC key whose tag over a constant is ``check``, so a wrong passphrase is told apart from
a damaged file. Every envelope member except ``nonce`` and ``ciphertext`` is the GCM
associated data, so no parameter can be changed unnoticed. Each save uses a fresh
96-bit nonce and replaces the file atomically (temporary file, ``fsync``, ``rename``,
directory ``fsync``): a crash leaves either the old wallet or the new one, never half.
:meth:`WalletFile.transaction` also holds an exclusive lock so that two processes
receiving at once cannot lose each other's credentials.

The plaintext holds one P-256 private key per credential (PKCS#8) and the credentials
(raw SD-JWT VC, issuer, type, display metadata, received time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from elicense import ids
from elicense.crypto import base64url
from elicense.crypto.keystore import LocalSigner, Signer
from elicense.errors import InvalidToken
from elicense.wallet.errors import (
    CredentialNotInWallet,
    WalletCorrupted,
    WalletNotFound,
    WrongPassphrase,
)

FORMAT = "elicense-wallet"
VERSION = 1
CIPHER = "A256GCM"
DEFAULT_PATH = Path("~/.elicense/wallet.json.enc")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: Refuse KDF parameters beyond these (a crafted file must not exhaust memory).
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 4
MAX_FILE_BYTES = 64 * 1024 * 1024
_CHECK_INPUT = b"elicense-wallet key check v1"


# --- contents ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class HolderKey:
    """One holder (device) key; ``kid`` is its RFC 7638 thumbprint."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey = dataclasses.field(repr=False)

    @classmethod
    def generate(cls) -> HolderKey:
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(LocalSigner(key).kid, key)

    def signer(self) -> Signer:
        return LocalSigner(self.private_key, kid=self.kid)

    @property
    def public_jwk(self) -> dict[str, str]:
        return dict(LocalSigner(self.private_key, kid=self.kid).public_jwk)


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimDisplay:
    """Labels of one claim (by claim path), by locale (``zh-CN``, ``en``)."""

    path: tuple[str | int | None, ...]
    labels: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialDisplay:
    """What the issuer metadata says to show: the credential's name and claim labels."""

    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    claims: tuple[ClaimDisplay, ...] = ()

    def name(self, locale: str = "en") -> str | None:
        return _localized(self.names, locale)

    def label(self, path: tuple[str | int | None, ...], locale: str = "en") -> str | None:
        for claim in self.claims:
            if claim.path == path:
                return _localized(claim.labels, locale)
        return None


def _localized(labels: Mapping[str, str], locale: str) -> str | None:
    if locale in labels:
        return labels[locale]
    language = locale.split("-")[0]
    for key, value in labels.items():
        if key.split("-")[0] == language:
            return value
    return next(iter(labels.values()), None)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCredential:
    """A received credential that verified against its issuer's keys when it arrived."""

    id: str
    format: str
    raw: str = dataclasses.field(repr=False)
    issuer: str
    vct: str
    configuration_id: str
    holder_kid: str
    received_at: int
    claims: Mapping[str, Any] = dataclasses.field(repr=False)
    display: CredentialDisplay
    expires_at: int | None = None
    status: Mapping[str, Any] | None = None
    notification_id: str | None = None


@dataclasses.dataclass(slots=True)
class Wallet:
    """The decrypted contents of a wallet file (in memory only)."""

    keys: dict[str, HolderKey] = dataclasses.field(default_factory=dict)
    credentials: dict[str, StoredCredential] = dataclasses.field(default_factory=dict)

    def new_holder_key(self) -> HolderKey:
        """A fresh P-256 key, kept in this wallet (one per credential)."""
        key = HolderKey.generate()
        self.keys[key.kid] = key
        return key

    def holder_key(self, kid: str) -> HolderKey:
        try:
            return self.keys[kid]
        except KeyError:
            raise WalletCorrupted(f"holder key {kid} is missing from the wallet") from None

    def add(self, credential: StoredCredential) -> None:
        if credential.holder_kid not in self.keys:
            raise WalletCorrupted("a credential must be bound to a key of this wallet")
        self.credentials[credential.id] = credential

    def get(self, credential_id: str) -> StoredCredential:
        """The credential with this id (or unique id prefix)."""
        if credential_id in self.credentials:
            return self.credentials[credential_id]
        matches = [c for i, c in self.credentials.items() if i.startswith(credential_id)]
        if len(matches) == 1 and credential_id:
            return matches[0]
        raise CredentialNotInWallet(f"no credential {credential_id!r} in this wallet")

    def list(self) -> list[StoredCredential]:
        """Every credential, oldest first."""
        return sorted(self.credentials.values(), key=lambda c: (c.received_at, c.id))

    def signer_for(self, credential: StoredCredential) -> Signer:
        """The holder key the credential is bound to (for key binding)."""
        return self.holder_key(credential.holder_kid).signer()

    def remove(self, credential_id: str) -> None:
        credential = self.get(credential_id)
        del self.credentials[credential.id]
        self.keys.pop(credential.holder_kid, None)


def new_credential_id() -> str:
    return ids.new_id("crd")


# --- the file --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Kdf:
    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def to_json(self) -> dict[str, Any]:
        return {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": _b64(self.salt)}

    def derive(self, passphrase: str) -> tuple[bytes, bytes]:
        kdf = Scrypt(salt=self.salt, length=64, n=self.n, r=self.r, p=self.p)
        material = kdf.derive(passphrase.encode("utf-8"))
        return material[:32], material[32:]


class WalletFile:
    """A wallet file opened with its passphrase: load, save, or both under a lock."""

    def __init__(self, path: Path, kdf: _Kdf, key: bytes, check_key: bytes) -> None:
        self.path = path
        self._kdf = kdf
        self._key = key
        self._check = _check_tag(check_key)

    @classmethod
    def open(cls, path: Path | str, passphrase: str, *, create: bool = False) -> WalletFile:
        """Open ``path`` (checking the passphrase); with ``create``, a missing file is a
        new empty wallet (written on the first :meth:`save`)."""
        path = Path(path).expanduser().absolute()
        if not path.exists():
            if not create:
                raise WalletNotFound(f"no wallet at {path}")
            kdf = _Kdf(salt=secrets.token_bytes(16))
            return cls(path, kdf, *kdf.derive(passphrase))
        envelope = _read_envelope(path)
        kdf = _kdf_of(envelope)
        key, check_key = kdf.derive(passphrase)
        if not hmac.compare_digest(_check_tag(check_key), _b64_field(envelope, "check")):
            raise WrongPassphrase(f"wrong passphrase for the wallet at {path}")
        return cls(path, kdf, key, check_key)

    def load(self) -> Wallet:
        """Decrypt and parse the wallet (an empty one if the file does not exist yet)."""
        if not self.path.exists():
            return Wallet()
        envelope = _read_envelope(self.path)
        if _b64_field(envelope, "check") != self._check or _kdf_of(envelope) != self._kdf:
            raise WrongPassphrase(f"the wallet at {self.path} was re-keyed; open it again")
        try:
            plaintext = AESGCM(self._key).decrypt(
                _b64_field(envelope, "nonce"),
                _b64_field(envelope, "ciphertext"),
                self._associated_data(),
            )
        except InvalidTag:
            raise WalletCorrupted(f"the wallet at {self.path} is damaged (tag mismatch)") from None
        return _wallet_from_json(plaintext, self.path)

    def save(self, wallet: Wallet) -> None:
        """Encrypt ``wallet`` under a fresh nonce and replace the file atomically."""
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(self._key).encrypt(
            nonce, _wallet_to_json(wallet), self._associated_data()
        )
        envelope = {
            **self._header(),
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
        atomic_write(self.path, json.dumps(envelope, indent=1).encode("ascii") + b"\n")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Wallet]:
        """Lock the wallet, load it, let the caller change it, save it on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                wallet = self.load()
                yield wallet
                self.save(wallet)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "kdf": self._kdf.to_json(),
            "cipher": CIPHER,
            "check": _b64(self._check),
        }

    def _associated_data(self) -> bytes:
        return json.dumps(self._header(), sort_keys=True, separators=(",", ":")).encode("ascii")


def open_wallet(path: Path | str, passphrase: str) -> Wallet:
    """Shortcut: the decrypted contents of an existing wallet file."""
    return WalletFile.open(path, passphrase).load()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_tag(check_key: bytes) -> bytes:
    return hmac.new(check_key, _CHECK_INPUT, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64url.encode(data)


# --- parsing the envelope ---------------------------------------------------------------


def _read_envelope(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WalletCorrupted(f"the wallet at {path} is implausibly large")
        envelope = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise WalletCorrupted(f"the wallet at {path} is not readable: {_reason(exc)}") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise WalletCorrupted(f"{path} is not an eLicense wallet file")
    if envelope.get("version") != VERSION or envelope.get("cipher") != CIPHER:
        raise WalletCorrupted(f"the wallet at {path} has an unsupported version or cipher")
    return envelope


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return type(exc).__name__


def _kdf_of(envelope: Mapping[str, Any]) -> _Kdf:
    kdf = envelope.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise WalletCorrupted("the wallet's key derivation is not scrypt")
    n, r, p = kdf.get("n"), kdf.get("r"), kdf.get("p")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n, r, p)):
        raise WalletCorrupted("the wallet's scrypt parameters are malformed")
    assert isinstance(n, int)
    assert isinstance(r, int)
    assert isinstance(p, int)
    if n > MAX_SCRYPT_N or r > MAX_SCRYPT_R or p > MAX_SCRYPT_P or n & (n - 1):
        raise WalletCorrupted("the wallet's scrypt parameters are out of range")
    return _Kdf(salt=_b64_field(kdf, "salt"), n=n, r=r, p=p)


def _b64_field(obj: Mapping[str, Any], name: str) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str):
        raise WalletCorrupted(f"the wallet file lacks {name}")
    try:
        return base64url.decode(value, what=name)
    except InvalidToken:
        raise WalletCorrupted(f"the wallet file's {name} is not base64url") from None


# --- plaintext (de)serialization --------------------------------------------------------


def _wallet_to_json(wallet: Wallet) -> bytes:
    document = {
        "keys": [_key_to_json(k) for k in wallet.keys.values()],
        "credentials": [_credential_to_json(c) for c in wallet.credentials.values()],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _key_to_json(key: HolderKey) -> dict[str, str]:
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {"kid": key.kid, "pkcs8": _b64(der)}


def _credential_to_json(credential: StoredCredential) -> dict[str, Any]:
    document = dataclasses.asdict(credential)
    document["display"] = {
        "names": dict(credential.display.names),
        "claims": [
            {"path": list(c.path), "labels": dict(c.labels)} for c in credential.display.claims
        ],
    }
    return document


def _wallet_from_json(plaintext: bytes, path: Path) -> Wallet:
    try:
        document = json.loads(plaintext.decode("utf-8"))
        keys = [_key_from_json(k) for k in document["keys"]]
        credentials = [_credential_from_json(c) for c in document["credentials"]]
    except (ValueError, KeyError, TypeError, InvalidToken) as exc:
        raise WalletCorrupted(
            f"the wallet at {path} decrypted but its contents are malformed ({type(exc).__name__})"
        ) from None
    wallet = Wallet(keys={k.kid: k for k in keys})
    for credential in credentials:
        wallet.add(credential)
    return wallet


def _key_from_json(item: Mapping[str, Any]) -> HolderKey:
    key = serialization.load_der_private_key(base64url.decode(item["pkcs8"]), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("holder key is not an EC key")
    return HolderKey(str(item["kid"]), key)


def _credential_from_json(item: Mapping[str, Any]) -> StoredCredential:
    display = item["display"]
    claims = tuple(
        ClaimDisplay(tuple(c["path"]), dict(c["labels"])) for c in display.get("claims", [])
    )
    fields = {f.name for f in dataclasses.fields(StoredCredential)}
    values = {k: v for k, v in item.items() if k in fields and k != "display"}
    return StoredCredential(**values, display=CredentialDisplay(dict(display["names"]), claims))
