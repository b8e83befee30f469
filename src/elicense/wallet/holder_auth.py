"""Holder-side ``holder-auth+jwt``: prove to our issuer that this wallet holds a credential's key.

Signed with the holder key a stored credential is bound to (its ``jwk`` in the header),
for one endpoint (``aud`` = its URL) and one server nonce (``POST /issuance/nonce``);
see ``docs/issuance.md`` (Holder authentication).
"""

from __future__ import annotations

from elicense import clock, ids
from elicense.crypto import _json, jws
from elicense.crypto.keystore import Signer

HOLDER_AUTH_TYP = "holder-auth+jwt"


def holder_auth_jwt(signer: Signer, *, audience: str, nonce: str, iat: int | None = None) -> str:
    """A fresh holder-auth JWT (new ``jti``) for endpoint ``audience``."""
    payload = {
        "aud": audience,
        "iat": clock.epoch() if iat is None else iat,
        "nonce": nonce,
        "jti": ids.secret_token(16),
    }
    header = {"typ": HOLDER_AUTH_TYP, "jwk": dict(signer.public_jwk)}
    return jws.sign_compact(header, _json.dumps(payload), signer, add_kid=False)
