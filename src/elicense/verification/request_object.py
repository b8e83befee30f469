"""Signed request objects (RFC 9101 JAR, OpenID4VP 1.0 Section 5), pure.

:func:`sign` builds the JWT (header ``typ: oauth-authz-req+jwt``, ``x5c`` = the RP's
access certificate and the RP CA) and :func:`verify` is the wallet's check: signature
under the ``x5c`` leaf key, the chain to the platform RP CA, ``client_id`` matching the
certificate, ``typ``, ``aud``, ``exp``, the response mode and a DCQL query we parse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from elicense import clock
from elicense.crypto import _json, jws
from elicense.crypto.keystore import Signer
from elicense.crypto.x509 import load_certificate
from elicense.errors import InvalidRequest, InvalidSignature, UntrustedVerifier
from elicense.verification import dcql, rp_ca

TYP = "oauth-authz-req+jwt"
SELF_ISSUED_AUD = "https://self-issued.me/v2"
RESPONSE_MODES = ("direct_post", "direct_post.jwt")
VP_FORMATS = {
    "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256", "EdDSA"], "kb-jwt_alg_values": ["ES256", "EdDSA"]}
}


def sign(payload: Mapping[str, Any], signer: Signer) -> str:
    """The compact JWS request object, with the signer's certificate chain as ``x5c``."""
    header = {"typ": TYP, "x5c": list(signer.x5c)}
    return jws.sign_compact(header, _json.dumps(dict(payload)), signer, add_kid=False)


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request object whose signer chains to the RP CA. Only :func:`verify` makes one."""

    client_id: str
    nonce: str
    state: str | None
    response_mode: str
    response_uri: str
    query: dcql.DcqlQuery
    claims: Mapping[str, Any]
    certificate_subject: str


def verify(
    token: str, anchors: list[x509.Certificate], *, wallet_nonce: str | None = None
) -> VerifiedRequest:
    """The wallet's checks on a fetched request object."""
    unverified = jws.decode_compact(token, what="request object")
    if unverified.header.get("typ") != TYP:
        raise InvalidRequest(
            "request object typ is not oauth-authz-req+jwt", code="request_wrong_typ"
        )
    payload = _json.loads_object(unverified.payload, what="request object payload")
    client_id = payload.get("client_id")
    if not isinstance(client_id, str):
        raise InvalidRequest("request object has no client_id", code="request_malformed")
    key = rp_ca.verify_request_signer(unverified.header.get("x5c"), client_id, anchors)
    try:
        jws.verify(unverified, key, allowed_algs=frozenset({"ES256", "EdDSA"}))
    except InvalidSignature as exc:
        raise UntrustedVerifier(
            "request object signature is invalid", code="request_bad_signature"
        ) from exc
    _check_claims(payload, wallet_nonce)
    leaf = load_certificate(unverified.header["x5c"][0])
    return VerifiedRequest(
        client_id=client_id,
        nonce=payload["nonce"],
        state=payload.get("state"),
        response_mode=payload["response_mode"],
        response_uri=payload["response_uri"],
        query=dcql.parse(payload.get("dcql_query")),
        claims=payload,
        certificate_subject=leaf.subject.rfc4514_string(),
    )


def _check_claims(payload: Mapping[str, Any], wallet_nonce: str | None) -> None:
    if payload.get("aud") != SELF_ISSUED_AUD:
        raise InvalidRequest("request object aud is not self-issued", code="request_wrong_aud")
    if payload.get("response_type") != "vp_token":
        raise InvalidRequest("response_type must be vp_token", code="request_malformed")
    if payload.get("response_mode") not in RESPONSE_MODES:
        raise InvalidRequest("unsupported response_mode", code="request_response_mode")
    for name in ("nonce", "response_uri"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise InvalidRequest(f"request object lacks {name}", code="request_malformed")
    exp = payload.get("exp")
    if not isinstance(exp, int) or exp <= clock.epoch():
        raise InvalidRequest("request object has expired", code="request_expired")
    if wallet_nonce is not None and payload.get("wallet_nonce") != wallet_nonce:
        raise InvalidRequest("wallet_nonce does not match", code="request_wallet_nonce")
