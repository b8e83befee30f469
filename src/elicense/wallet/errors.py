"""Errors of the wallet (holder side), part of the one :mod:`elicense.errors` tree.

* :class:`WalletError` and its children: the local wallet file (wrong passphrase,
  corrupted or missing file, unknown credential).
* :class:`IssuerError`: the Credential Issuer or its Authorization Server answered with
  an OAuth / OpenID4VCI error; ``instance_code`` is the server's ``error`` value
  (``invalid_proof``, ``invalid_nonce``, ``invalid_grant``, ...) so callers match on it.
* :class:`OfferInvalid`: a credential offer that cannot be used.
* :class:`IssuerUnreachable`: the network failed (after safe retries).
"""

from __future__ import annotations

from typing import ClassVar

from elicense.errors import ELicenseError, Unavailable, ValidationFailed


class WalletError(ELicenseError):
    code: ClassVar[str] = "wallet_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Wallet error"


class WrongPassphrase(WalletError):
    code = "wallet_wrong_passphrase"


class WalletCorrupted(WalletError):
    code = "wallet_corrupted"


class WalletNotFound(WalletError):
    code = "wallet_not_found"


class CredentialNotInWallet(WalletError):
    code = "credential_not_found"


class OfferInvalid(ValidationFailed):
    code = "offer_invalid"


class IssuerError(ELicenseError):
    """The issuer said no; ``instance_code`` is its OAuth/OpenID4VCI ``error`` value."""

    code = "issuer_error"
    status = 502
    title = "The credential issuer refused the request"


class IssuerUnreachable(Unavailable):
    code = "issuer_unreachable"
