"""A :class:`~elicense.crypto.keystore.KeyStore` in an HSM, through PKCS#11.

Issuer keys are P-256 key pairs generated *inside* the token (``CKA_SENSITIVE``,
non-extractable). Each pair carries ``CKA_ID`` = its key id (RFC 7638 thumbprint) and a
label ``<prefix>:<created>`` (``<prefix>-retired:<created>:<retired>`` once retired);
the current signing key is the newest one that is not retired. Several stores share a
token, one per prefix (labels are matched exactly, so ``civil`` never sees
``civil_affairs``). A key's document-signer chain is kept on the token too, as X.509
certificate objects with the key's ``CKA_ID`` and the label
``<prefix>-chain:<position>:<leaf serial>``.

A new key is made under ``<prefix>-pending:<created>``, certified, and only then
relabelled current: no reader ever sees it without its chain.

Signing hashes with SHA-256 in Python and asks the token for raw ``CKM_ECDSA``
(SoftHSM 2.6 offers no ``CKM_ECDSA_SHA256``); PKCS#11 returns ``r || s``, which is the
JWS encoding already.

PKCS#11 logs in per *application*: a second ``C_Login`` fails and ``C_Logout`` (which
closing a logged-in session does) logs every session of the process out. So a process
holds one :class:`Pkcs11Session` per token, shared by all its stores and counted;
sessions are not thread-safe, so every call holds the session's lock.
Tests run against Debian's ``softhsm2`` with a token created at test time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from elicense import clock
from elicense.crypto import algorithms
from elicense.crypto.jwk import public_jwk, thumbprint
from elicense.crypto.keystore import KeyInfo, Signer
from elicense.crypto.x509 import to_x5c
from elicense.errors import Conflict, CryptoError, KeyNotFound, UnsupportedAlgorithm

_RETIRED = "-retired"
_PENDING = "-pending"
_CHAIN = "-chain"
_PIN_ERRORS = (
    pkcs11.PinIncorrect,
    pkcs11.PinInvalid,
    pkcs11.PinLenRange,
    pkcs11.PinLocked,
    pkcs11.PinExpired,
)

Certify = Callable[[algorithms.PublicKey], list[x509.Certificate]]
Pkcs11Stamp = tuple[tuple[str, str], ...]
"""The sorted ``(label, id)`` of a store's public keys and certificates on the token."""


class Pkcs11Session:
    """The process's one logged-in read-write session on a token, shared and counted."""

    _open: ClassVar[dict[tuple[str, str], Pkcs11Session]] = {}
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, raw: Any, where: tuple[str, str], pin_digest: bytes) -> None:
        self.raw = raw
        self.lock = threading.Lock()
        self._where = where
        self._pin_digest = pin_digest
        self._users = 1

    @classmethod
    def open(cls, library: str, token_label: str, user_pin: str) -> Pkcs11Session:
        """Log in to ``token_label`` (or share the session this process already has).

        Raises :class:`CryptoError` (``hsm_error``) whose ``reason`` extra says what
        failed: ``module``, ``token``, ``pin`` or ``session``. The PIN is never logged.
        """
        where = (library, token_label)
        digest = hashlib.sha256(user_pin.encode("utf-8")).digest()
        with cls._open_lock:
            found = cls._open.get(where)
            if found is not None:
                if not hmac.compare_digest(found._pin_digest, digest):
                    raise CryptoError(
                        f"the PIN for HSM token {token_label!r} differs from the one this "
                        "process logged in with",
                        code="hsm_error",
                        reason="pin",
                    )
                found._users += 1
                return found
            session = cls(_login(library, token_label, user_pin), where, digest)
            cls._open[where] = session
            return session

    def release(self) -> None:
        """Drop one user; the last one logs out and closes the session."""
        with self._open_lock:
            self._users -= 1
            if self._users > 0:
                return
            if self._open.get(self._where) is self:
                del self._open[self._where]
        # a session already gone with the library has nothing left to close
        with self.lock, contextlib.suppress(pkcs11.PKCS11Error):
            self.raw.close()


def _login(library: str, token_label: str, user_pin: str) -> Any:
    try:
        lib = pkcs11.lib(library)
    except (pkcs11.PKCS11Error, OSError) as exc:
        raise CryptoError(
            f"cannot load the PKCS#11 module {library}: {exc}", code="hsm_error", reason="module"
        ) from exc
    try:
        token = lib.get_token(token_label=token_label)
    except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as exc:
        raise CryptoError(
            f"no single HSM token labelled {token_label!r} in {library} ({type(exc).__name__})",
            code="hsm_error",
            reason="token",
        ) from exc
    try:
        return token.open(rw=True, user_pin=user_pin)
    except _PIN_ERRORS as exc:
        raise CryptoError(
            f"HSM token {token_label!r} refused the PIN ({type(exc).__name__}); "
            "repeated attempts may lock it",
            code="hsm_error",
            reason="pin",
        ) from exc
    except (pkcs11.PKCS11Error, RuntimeError) as exc:
        raise CryptoError(
            f"cannot open HSM token {token_label!r}: {type(exc).__name__}",
            code="hsm_error",
            reason="session",
        ) from exc


@dataclasses.dataclass(frozen=True, slots=True)
class Pkcs11Signer:
    """A :class:`Signer` whose private key never leaves the token."""

    kid: str
    public_jwk: dict[str, str]
    _key: Any = dataclasses.field(repr=False)
    _lock: threading.Lock = dataclasses.field(repr=False)
    x5c: tuple[str, ...] = ()
    alg: str = algorithms.ES256

    def sign(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        try:
            with self._lock:
                signature = bytes(self._key.sign(digest, mechanism=Mechanism.ECDSA))
        except pkcs11.PKCS11Error as exc:
            raise CryptoError(
                f"HSM signing failed: {type(exc).__name__}", code="hsm_error"
            ) from exc
        if len(signature) != 64:
            raise CryptoError("HSM returned a malformed ECDSA signature", code="hsm_error")
        return signature


class Pkcs11KeyStore:
    """Issuer keys in a PKCS#11 token (an HSM in production, SoftHSM2 in tests)."""

    def __init__(
        self, library: str, token_label: str, user_pin: str, *, prefix: str = "elicense"
    ) -> None:
        self._attach(Pkcs11Session.open(library, token_label, user_pin), prefix, owns=True)

    @classmethod
    def on(cls, session: Pkcs11Session, *, prefix: str) -> Pkcs11KeyStore:
        """A store over ``session`` that its owner releases (:meth:`close` does not)."""
        store = cls.__new__(cls)
        store._attach(session, prefix, owns=False)
        return store

    def _attach(self, session: Pkcs11Session, prefix: str, *, owns: bool) -> None:
        if not prefix or ":" in prefix:
            raise CryptoError(f"bad PKCS#11 label prefix {prefix!r}", code="hsm_error")
        self._hsm = session
        self._session = session.raw
        self._lock = session.lock
        self._prefix = prefix
        self._owns = owns

    @property
    def prefix(self) -> str:
        return self._prefix

    def close(self) -> None:
        """Release the session if this store opened it (the last user logs out)."""
        if self._owns:
            self._owns = False
            self._hsm.release()

    # --- KeyStore protocol ---------------------------------------------------------

    def current_signer(self) -> Signer:
        live = [k for k in self.list_keys() if k.retired_at is None]
        if not live:
            raise KeyNotFound("the HSM holds no current issuer key")
        return self.signer(live[0].kid)

    def signer(self, kid: str) -> Signer:
        with self._lock:
            private = self._object(ObjectClass.PRIVATE_KEY, kid)
            public = self._object(ObjectClass.PUBLIC_KEY, kid)
            jwk = public_jwk(_public_key(public))
            x5c = to_x5c(self._chain(kid))
        return Pkcs11Signer(kid=kid, public_jwk=jwk, _key=private, _lock=self._lock, x5c=x5c)

    def list_keys(self) -> list[KeyInfo]:
        with self._lock:
            objects = list(self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY}))
            infos = [self._info(o) for o in objects if self._kind(o) in ("", _RETIRED)]
        return sorted(infos, key=lambda k: k.created_at, reverse=True)

    def rotate(self, alg: str = algorithms.ES256, *, certify: Certify | None = None) -> KeyInfo:
        """A new key pair made in the token; certified (by ``certify``) while still
        pending, then made current."""
        if alg != algorithms.ES256:
            raise UnsupportedAlgorithm("the PKCS#11 store makes ES256 keys only")
        created = max([clock.epoch(), *(k.created_at + 1 for k in self.list_keys())])
        public, private, key = self._generate(f"{self._prefix}{_PENDING}:{created}")
        jwk = public_jwk(key)
        kid = thumbprint(jwk)
        if certify is not None:
            self.set_certificate_chain(kid, certify(key))
        with self._lock, _token_errors("to make the new key current"):
            public[Attribute.LABEL] = private[Attribute.LABEL] = f"{self._prefix}:{created}"
        return KeyInfo(kid=kid, alg=alg, public_jwk=jwk, created_at=created)

    def retire(self, kid: str) -> None:
        if self.current_signer().kid == kid:
            raise Conflict("cannot retire the current signing key; rotate first")
        with self._lock:
            for cls in (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY):
                obj = self._object(cls, kid)
                created = str(obj[Attribute.LABEL]).split(":")[1]
                obj[Attribute.LABEL] = f"{self._prefix}{_RETIRED}:{created}:{clock.epoch()}"

    # --- certificates and change detection -------------------------------------------

    def set_certificate_chain(self, kid: str, chain: list[x509.Certificate]) -> None:
        """Store ``chain`` (leaf first) on the token for ``kid``, replacing any before."""
        if not chain:
            raise CryptoError("an empty certificate chain", code="hsm_error")
        serial = f"{chain[0].serial_number:x}"
        with self._lock, _token_errors("to store a certificate"):
            self._object(ObjectClass.PUBLIC_KEY, kid)
            old = self._certificates(kid)
            for position, cert in enumerate(chain):
                self._session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.CERTIFICATE,
                        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                        Attribute.TOKEN: True,
                        Attribute.ID: kid.encode("ascii"),
                        Attribute.LABEL: f"{self._prefix}{_CHAIN}:{position}:{serial}",
                        Attribute.SUBJECT: cert.subject.public_bytes(),
                        Attribute.ISSUER: cert.issuer.public_bytes(),
                        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
                    }
                )
            for obj in old:
                obj.destroy()

    def certificate_chain(self, kid: str) -> list[x509.Certificate]:
        """The chain stored for ``kid`` (empty when none was set)."""
        with self._lock:
            return self._chain(kid)

    def stamp(self) -> Pkcs11Stamp:
        """The labels and ids of this store's keys and certificates: any rotation,
        retirement or new chain changes it. Costs two object searches on the token
        (more than a signature on SoftHSM), so callers should not ask per signature."""
        with self._lock:
            found = [
                (str(o[Attribute.LABEL]), bytes(o[Attribute.ID]).decode("ascii", "replace"))
                for cls in (ObjectClass.PUBLIC_KEY, ObjectClass.CERTIFICATE)
                for o in self._session.get_objects({Attribute.CLASS: cls})
            ]
        prefixes = (self._prefix, self._prefix + _RETIRED, self._prefix + _CHAIN)
        return tuple(sorted(f for f in found if f[0].split(":", 1)[0] in prefixes))

    # --- internals -------------------------------------------------------------------

    def _generate(self, label: str) -> tuple[Any, Any, ec.EllipticCurvePublicKey]:
        """A P-256 pair made in the token under ``label`` (``CKA_ID`` = its key id), and
        its public key."""
        with self._lock, _token_errors("to make a key"):
            params = self._session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, private = params.generate_keypair(
                store=True,
                label=label,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
            key = _public_key(public)
            public[Attribute.ID] = private[Attribute.ID] = thumbprint(public_jwk(key)).encode()
        return public, private, key

    def _kind(self, obj: Any) -> str | None:
        """``""``, ``-retired``, ``-pending`` or ``-chain`` for this prefix; else None."""
        head = str(obj[Attribute.LABEL]).split(":", 1)[0]
        for kind in ("", _RETIRED, _PENDING, _CHAIN):
            if head == self._prefix + kind:
                return kind
        return None

    def _object(self, object_class: ObjectClass, kid: str) -> Any:
        found = [
            o
            for o in self._session.get_objects(
                {Attribute.CLASS: object_class, Attribute.ID: kid.encode("ascii")}
            )
            if self._kind(o) in ("", _RETIRED, _PENDING)
        ]
        if len(found) != 1:
            raise KeyNotFound(f"no key {kid} in the HSM")
        return found[0]

    def _certificates(self, kid: str) -> list[Any]:
        query = {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: kid.encode("ascii")}
        return [o for o in self._session.get_objects(query) if self._kind(o) == _CHAIN]

    def _chain(self, kid: str) -> list[x509.Certificate]:
        objects = sorted(
            self._certificates(kid), key=lambda o: int(str(o[Attribute.LABEL]).split(":")[1])
        )
        return [x509.load_der_x509_certificate(bytes(o[Attribute.VALUE])) for o in objects]

    def _info(self, public: Any) -> KeyInfo:
        parts = str(public[Attribute.LABEL]).split(":")
        retired = int(parts[2]) if parts[0].endswith(_RETIRED) and len(parts) > 2 else None
        jwk = public_jwk(_public_key(public))
        return KeyInfo(thumbprint(jwk), algorithms.ES256, jwk, int(parts[1]), retired)


@contextlib.contextmanager
def _token_errors(doing: str) -> Iterator[None]:
    """A token failing ``doing`` as one :class:`CryptoError` (``hsm_error``).

    SoftHSM 2.6 can fail so, or hand back an empty attribute (a ``ValueError`` when it
    is parsed), when another process searches the token at that moment (SoftHSMv2
    issue 573). A rotation that fails before the relabelling leaves at most a pending
    key, never listed, used or published; the current key is unchanged and the rotation
    can be run again."""
    try:
        yield
    except (pkcs11.PKCS11Error, ValueError) as exc:
        raise CryptoError(
            f"the HSM failed {doing} ({type(exc).__name__}); try again",
            code="hsm_error",
        ) from exc


def _public_key(public: Any) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(encode_ec_public_key(public))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CryptoError("HSM key is not an EC key", code="hsm_error")
    return key
