"""JWE compact serialization (RFC 7516) for ECDH-ES direct key agreement (RFC 7518 4.6)
with A128GCM or A256GCM: what OpenID4VP ``direct_post.jwt`` responses use.

Only this combination is implemented and accepted (an allow-list, like the JWS
registry): ``alg`` ``ECDH-ES`` on P-256, ``enc`` ``A128GCM``/``A256GCM``, no ``zip``.
The content key is derived with the Concat KDF (NIST SP 800-56A, SHA-256) over the
ECDH shared secret, ``enc`` as AlgorithmID, ``apu``/``apv`` and the key length.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from elicense.crypto import _json, base64url
from elicense.crypto.jwk import load_public_jwk, public_jwk
from elicense.errors import CryptoError, InvalidToken, UnsupportedAlgorithm

ALG = "ECDH-ES"
ENC_KEY_BYTES = {"A128GCM": 16, "A256GCM": 32}
MAX_JWE_BYTES = 512 * 1024


def _otherinfo(enc: str, apu: bytes, apv: bytes, length: int) -> bytes:
    def prefixed(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    return (
        prefixed(enc.encode("ascii"))
        + prefixed(apu)
        + prefixed(apv)
        + (length * 8).to_bytes(4, "big")
    )


def _cek(
    private: ec.EllipticCurvePrivateKey,
    peer: ec.EllipticCurvePublicKey,
    enc: str,
    apu: bytes,
    apv: bytes,
) -> bytes:
    length = ENC_KEY_BYTES[enc]
    shared = private.exchange(ec.ECDH(), peer)
    kdf = ConcatKDFHash(hashes.SHA256(), length, _otherinfo(enc, apu, apv, length))
    return kdf.derive(shared)


def encrypt(
    plaintext: bytes,
    recipient_jwk: Mapping[str, Any],
    *,
    enc: str = "A128GCM",
    header: Mapping[str, Any] | None = None,
) -> str:
    """Encrypt ``plaintext`` to the P-256 ``recipient_jwk`` (its ``kid`` is echoed)."""
    if enc not in ENC_KEY_BYTES:
        raise UnsupportedAlgorithm(f"enc {enc} is not supported", code="jwe_enc_unsupported")
    peer = load_public_jwk(recipient_jwk)
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise UnsupportedAlgorithm("ECDH-ES needs a P-256 key", code="jwe_key_unsupported")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    protected: dict[str, Any] = {**(header or {}), "alg": ALG, "enc": enc}
    protected["epk"] = public_jwk(ephemeral)
    if isinstance(recipient_jwk.get("kid"), str):
        protected["kid"] = recipient_jwk["kid"]
    apu = base64url.decode(protected["apu"]) if "apu" in protected else b""
    apv = base64url.decode(protected["apv"]) if "apv" in protected else b""
    cek = _cek(ephemeral, peer, enc, apu, apv)
    encoded_header = base64url.encode(_json.dumps(protected))
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, encoded_header.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    parts = (encoded_header, "", base64url.encode(iv), base64url.encode(ciphertext))
    return ".".join((*parts, base64url.encode(tag)))


def decrypt(
    token: str,
    private_key: ec.EllipticCurvePrivateKey,
    *,
    allowed_enc: frozenset[str] = frozenset(ENC_KEY_BYTES),
) -> tuple[dict[str, Any], bytes]:
    """The protected header and plaintext of a compact JWE for ``private_key``."""
    if len(token) > MAX_JWE_BYTES:
        raise InvalidToken("JWE too large", code="jwe_too_large")
    parts = token.split(".")
    if len(parts) != 5:
        raise InvalidToken("JWE does not have five parts", code="jwe_malformed")
    header = _json.loads_object(base64url.decode(parts[0], what="JWE header"), what="JWE header")
    enc = header.get("enc")
    if header.get("alg") != ALG or enc not in allowed_enc or enc not in ENC_KEY_BYTES:
        raise UnsupportedAlgorithm("JWE alg/enc not accepted", code="jwe_alg_not_allowed")
    if parts[1] or "zip" in header or "crit" in header:
        raise InvalidToken("JWE has an encrypted key, zip or crit", code="jwe_malformed")
    try:
        peer = load_public_jwk(header.get("epk"))
    except CryptoError as exc:
        raise InvalidToken("JWE epk is not a usable key", code="jwe_bad_epk") from exc
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise InvalidToken("JWE epk is not P-256", code="jwe_bad_epk")
    apu = base64url.decode(header["apu"], what="apu") if "apu" in header else b""
    apv = base64url.decode(header["apv"], what="apv") if "apv" in header else b""
    cek = _cek(private_key, peer, str(enc), apu, apv)
    iv, ciphertext, tag = (base64url.decode(p, what="JWE part") for p in parts[2:])
    try:
        plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))
    except (InvalidTag, ValueError) as exc:
        raise InvalidToken("JWE does not decrypt", code="jwe_decrypt_failed") from exc
    return header, plaintext
