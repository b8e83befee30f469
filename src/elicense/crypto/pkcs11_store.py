"""A :class:`~elicense.crypto.keystore.KeyStore` in an HSM, through PKCS#11.

Issuer keys are P-256 key pairs generated *inside* the token (``CKA_SENSITIVE``,
non-extractable). Each pair carries ``CKA_ID`` = its key id (RFC 7638 thumbprint) and a
label ``<prefix>:<created>`` (``<prefix>-retired:<created>:<retired>`` once retired);
the current signing key is the newest one that is not retired.

Signing hashes with SHA-256 in Python and asks the token for raw ``CKM_ECDSA``
(SoftHSM 2.6 offers no ``CKM_ECDSA_SHA256``); PKCS#11 returns ``r || s``, which is the
JWS encoding already. Sessions are not thread-safe, so every call holds a lock.
Tests run against Debian's ``softhsm2`` with a token created at test time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from elicense import clock
from elicense.crypto import algorithms
from elicense.crypto.jwk import public_jwk, thumbprint
from elicense.crypto.keystore import KeyInfo, Signer
from elicense.errors import Conflict, CryptoError, KeyNotFound, UnsupportedAlgorithm

_RETIRED = "-retired"


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
        try:
            token = pkcs11.lib(library).get_token(token_label=token_label)
            self._session = token.open(rw=True, user_pin=user_pin)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise CryptoError(
                f"cannot open HSM token {token_label!r}: {type(exc).__name__}", code="hsm_error"
            ) from exc
        self._prefix = prefix
        self._lock = threading.Lock()

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock:
            self._session.close()

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
        return Pkcs11Signer(kid=kid, public_jwk=jwk, _key=private, _lock=self._lock)

    def list_keys(self) -> list[KeyInfo]:
        with self._lock:
            objects = list(self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY}))
            infos = [
                self._info(o) for o in objects if str(o[Attribute.LABEL]).startswith(self._prefix)
            ]
        return sorted(infos, key=lambda k: k.created_at, reverse=True)

    def rotate(self, alg: str = algorithms.ES256) -> KeyInfo:
        if alg != algorithms.ES256:
            raise UnsupportedAlgorithm("the PKCS#11 store makes ES256 keys only")
        created = max([clock.epoch(), *(k.created_at + 1 for k in self.list_keys())])
        label = f"{self._prefix}:{created}"
        with self._lock:
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
            jwk = public_jwk(_public_key(public))
            kid = thumbprint(jwk)
            public[Attribute.ID] = kid.encode("ascii")
            private[Attribute.ID] = kid.encode("ascii")
        return KeyInfo(kid=kid, alg=alg, public_jwk=jwk, created_at=created)

    def retire(self, kid: str) -> None:
        if self.current_signer().kid == kid:
            raise Conflict("cannot retire the current signing key; rotate first")
        with self._lock:
            for cls in (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY):
                obj = self._object(cls, kid)
                created = str(obj[Attribute.LABEL]).split(":")[1]
                obj[Attribute.LABEL] = f"{self._prefix}{_RETIRED}:{created}:{clock.epoch()}"

    # --- internals -------------------------------------------------------------------

    def _object(self, object_class: ObjectClass, kid: str) -> Any:
        found = list(
            self._session.get_objects(
                {Attribute.CLASS: object_class, Attribute.ID: kid.encode("ascii")}
            )
        )
        if len(found) != 1:
            raise KeyNotFound(f"no key {kid} in the HSM")
        return found[0]

    def _info(self, public: Any) -> KeyInfo:
        parts = str(public[Attribute.LABEL]).split(":")
        retired = int(parts[2]) if parts[0].endswith(_RETIRED) and len(parts) > 2 else None
        jwk = public_jwk(_public_key(public))
        return KeyInfo(thumbprint(jwk), algorithms.ES256, jwk, int(parts[1]), retired)


def _public_key(public: Any) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(encode_ec_public_key(public))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CryptoError("HSM key is not an EC key", code="hsm_error")
    return key
