"""Presentations of stored credentials: disclose only what was asked, bound to a nonce.

The OpenID4VP side of the wallet calls :func:`build_presentation` once it has decided
(with the user's consent) which claims to disclose to which verifier; this module knows
nothing about OpenID4VP requests, only SD-JWT selective disclosure and key binding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from elicense.formats import sd_jwt
from elicense.formats._claim_paths import Step
from elicense.wallet.store import StoredCredential, Wallet


def build_presentation(
    wallet: Wallet,
    credential_id: str,
    disclose: Iterable[Sequence[Step]],
    *,
    nonce: str,
    audience: str,
    iat: int | None = None,
) -> str:
    """``<issuer JWT>~<chosen disclosures>~<KB-JWT>`` for the stored credential.

    ``disclose`` lists claim paths (``[["given_name"], ["address", "locality"]]``);
    only the disclosures needed for them are kept. The KB-JWT carries ``nonce`` and
    ``aud`` and is signed by the credential's own holder key.
    """
    credential = wallet.get(credential_id)
    request = sd_jwt.KeyBindingRequest(
        signer=wallet.signer_for(credential), nonce=nonce, audience=audience, iat=iat
    )
    return sd_jwt.present(credential.raw, [tuple(p) for p in disclose], key_binding=request)


def disclosable_paths(credential: StoredCredential) -> list[tuple[Step, ...]]:
    """Top-level claim paths of the credential (what a consent screen can offer)."""
    return [(name,) for name in credential.claims]
