"""Holder-side JWTs: DPoP proofs (RFC 9449) and OpenID4VCI key proofs (Section F.1).

Both are compact JWS signed with our one JWS implementation and carry the public key
in the ``jwk`` header (that is their point: the server learns which key to bind).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from elicense import clock, ids
from elicense.crypto import _json, base64url, jws
from elicense.crypto.keystore import Signer

DPOP_TYP = "dpop+jwt"
PROOF_TYP = "openid4vci-proof+jwt"


def htu(url: str) -> str:
    """The ``htu`` of a request URL: without query and fragment (RFC 9449 Section 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII(access token)))."""
    return base64url.encode(hashlib.sha256(access_token.encode("ascii")).digest())


def dpop_proof(
    signer: Signer,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
) -> str:
    """A fresh DPoP proof JWT for one HTTP request (a new ``jti`` every time)."""
    payload: dict[str, object] = {
        "jti": ids.secret_token(16),
        "htm": method.upper(),
        "htu": htu(url),
        "iat": clock.epoch() if iat is None else iat,
    }
    if access_token is not None:
        payload["ath"] = access_token_hash(access_token)
    if nonce is not None:
        payload["nonce"] = nonce
    header = {"typ": DPOP_TYP, "jwk": dict(signer.public_jwk)}
    return jws.sign_compact(header, _json.dumps(payload), signer, add_kid=False)


def key_proof(
    signer: Signer,
    *,
    audience: str,
    nonce: str | None,
    client_id: str | None = None,
    iat: int | None = None,
) -> str:
    """An OpenID4VCI ``jwt`` proof of possession of ``signer``'s key."""
    payload: dict[str, object] = {"aud": audience, "iat": clock.epoch() if iat is None else iat}
    if nonce is not None:
        payload["nonce"] = nonce
    if client_id is not None:
        payload["iss"] = client_id
    header = {"typ": PROOF_TYP, "jwk": dict(signer.public_jwk)}
    return jws.sign_compact(header, _json.dumps(payload), signer, add_kid=False)
