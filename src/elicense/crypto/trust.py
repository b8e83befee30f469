"""The trust list: which issuers a verifier trusts, with which keys and algorithms.

A plain JSON document that any tool can write (``elicense keys export-trust`` writes
one for our own issuer)::

    {"issuers": [
      {"iss": "https://issuer.example.gov.cn",
       "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "kid": "..."}]},
       "x5c_anchors": ["<base64 DER or PEM issuing-CA certificate>"],   (optional)
       "algs": ["ES256"]}                                                   (optional)
    ]}

Resolution (:meth:`TrustList.resolve`) follows the token's ``iss`` to one trusted
issuer, then picks the key by ``kid`` from that issuer's JWKS, or validates an ``x5c``
chain against that issuer's anchors. Keys offered by the token itself (``jwk``, ``jku``,
``x5u``) are refused outright: a token never vouches for its own key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from elicense.crypto import algorithms
from elicense.crypto import x509 as x509_chain
from elicense.crypto.jwk import load_public_jwk, thumbprint
from elicense.errors import ConfigError, CryptoError, KeyNotFound, UntrustedIssuer

_SELF_ASSERTED_KEYS = ("jwk", "jku", "x5u")


@dataclasses.dataclass(frozen=True, slots=True)
class IssuerKey:
    """The key (chosen by the Verifier, never by the token) that must have signed a
    token, the algorithms allowed with it, and the issuer it belongs to."""

    key: algorithms.PublicKey
    allowed_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED
    issuer: str | None = None


#: Resolves the issuer key from a token's (unverified) header and payload, or raises.
KeyResolver = Callable[[Mapping[str, Any], Mapping[str, Any]], IssuerKey]


@dataclasses.dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """One trusted issuer: its identifier, keys by ``kid``, anchors and algorithms."""

    iss: str
    keys: Mapping[str, algorithms.PublicKey]
    jwks: tuple[Mapping[str, Any], ...] = ()
    x5c_anchors: tuple[x509.Certificate, ...] = ()
    allowed_algs: frozenset[str] = algorithms.DEFAULT_ALLOWED


@dataclasses.dataclass(frozen=True, slots=True)
class TrustList:
    """Trusted issuers by ``iss``."""

    issuers: Mapping[str, TrustedIssuer]

    @classmethod
    def load(cls, path: Path) -> TrustList:
        """Read a trust list file; a bad file raises :class:`ConfigError`."""
        try:
            return cls.from_json(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read trust list {path}: {exc}") from exc

    @classmethod
    def from_json(cls, document: object) -> TrustList:
        """Parse the JSON structure documented in this module."""
        if not isinstance(document, Mapping) or not isinstance(document.get("issuers"), list):
            raise ConfigError('trust list must be {"issuers": [...]}')
        issuers = [_issuer(entry) for entry in document["issuers"]]
        by_iss = {i.iss: i for i in issuers}
        if len(by_iss) != len(issuers):
            raise ConfigError("trust list names an issuer twice")
        return cls(by_iss)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (round-trips through :meth:`from_json`)."""
        return {"issuers": [_issuer_json(i) for i in self.issuers.values()]}

    def resolve(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> IssuerKey:
        """The key that must have signed a token with this header and payload."""
        injected = [k for k in _SELF_ASSERTED_KEYS if k in header]
        if injected:
            raise UntrustedIssuer(
                f"token offers its own key ({injected[0]}); keys come from the trust list",
                code="header_key_not_trusted",
            )
        iss = payload.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise UntrustedIssuer("the issuer is not in the trust list")
        if "x5c" in header:
            key = x509_chain.verify_x5c(header["x5c"], issuer.x5c_anchors, issuer=issuer.iss)
            return IssuerKey(key, issuer.allowed_algs, issuer.iss)
        return IssuerKey(_by_kid(issuer, header.get("kid")), issuer.allowed_algs, issuer.iss)


def _by_kid(issuer: TrustedIssuer, kid: object) -> algorithms.PublicKey:
    if kid is None:
        if len(issuer.keys) == 1:
            return next(iter(issuer.keys.values()))
        raise KeyNotFound("token has no kid and the issuer has several keys", code="kid_required")
    key = issuer.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise KeyNotFound("the token's kid is not a key of its issuer", code="unknown_kid")
    return key


def _issuer(entry: object) -> TrustedIssuer:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("iss"), str):
        raise ConfigError("each trust list issuer needs an iss string")
    jwks = entry.get("jwks", {"keys": []})
    jwk_list = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(jwk_list, list):
        raise ConfigError(f"issuer {entry['iss']}: jwks must be {{'keys': [...]}}")
    try:
        keys = {_kid(j): load_public_jwk(j) for j in jwk_list}
        algs = algorithms.allowed_set(entry.get("algs", sorted(algorithms.DEFAULT_ALLOWED)))
        anchors = tuple(x509_chain.load_certificate(a) for a in entry.get("x5c_anchors", []))
    except (CryptoError, UntrustedIssuer, TypeError) as exc:
        raise ConfigError(f"issuer {entry['iss']}: {exc}") from exc
    return TrustedIssuer(entry["iss"], keys, tuple(jwk_list), anchors, algs)


def _kid(jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid")
    return kid if isinstance(kid, str) else thumbprint(jwk)


def _issuer_json(issuer: TrustedIssuer) -> dict[str, Any]:
    out: dict[str, Any] = {"iss": issuer.iss, "jwks": {"keys": [dict(j) for j in issuer.jwks]}}
    if issuer.x5c_anchors:
        out["x5c_anchors"] = list(x509_chain.to_x5c(issuer.x5c_anchors))
    out["algs"] = sorted(issuer.allowed_algs)
    return out


def single_issuer(
    iss: str,
    jwks: Sequence[Mapping[str, Any]],
    anchors: Sequence[x509.Certificate] = (),
    algs: Sequence[str] = (algorithms.ES256,),
) -> TrustList:
    """A trust list with one issuer (what ``keys export-trust`` writes)."""
    document = {"iss": iss, "jwks": {"keys": list(jwks)}, "algs": list(algs)}
    document["x5c_anchors"] = list(x509_chain.to_x5c(anchors))
    return TrustList.from_json({"issuers": [document]})
