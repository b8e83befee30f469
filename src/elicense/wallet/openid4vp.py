"""The wallet side of OpenID4VP 1.0: fetch and check a request, present, post.

1. :func:`fetch_request` GETs the ``request_uri`` and verifies the request object
   (:func:`elicense.verification.request_object.verify`): signature under the ``x5c``
   leaf, chain to the platform RP CA (the wallet's configured anchor), ``client_id``
   prefix (``x509_san_dns`` / ``x509_hash``) matching the certificate. It then checks
   the RP's **registration**: the request carries it in ``verifier_info`` as a JWT
   signed by the RP CA itself (also served at ``GET /verification/rps/{client_id}``);
   a request for any claim or purpose beyond the registration is refused
   (``beyond_registration``), as is a same-region-only credential for an RP of
   another region (``region_mismatch``).
2. :func:`build_response` picks, for each DCQL credential query, a held credential of
   an accepted ``vct`` that can satisfy it, discloses only the requested paths with a
   KB-JWT (``aud`` = the ``client_id`` with its prefix, ``nonce``), and for
   ``direct_post.jwt`` encrypts ``{vp_token, state}`` to the request's
   ``client_metadata.jwks`` key (ECDH-ES, :mod:`elicense.crypto.jwe`).
3. :func:`post_response` sends the form to ``response_uri``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elicense import clock
from elicense.crypto import _json, jwe, jws
from elicense.crypto.keystore import Signer
from elicense.crypto.x509 import load_certificate
from elicense.errors import (
    AccessDenied,
    ELicenseError,
    InvalidRequest,
    InvalidSignature,
    UntrustedVerifier,
)
from elicense.formats import sd_jwt
from elicense.verification import dcql, policy, request_object
from elicense.verification.request_object import VerifiedRequest

REGISTRATION_TYP = "rp-registration+jwt"


class Holding(Protocol):
    """A held SD-JWT VC and the holder key it is bound to."""

    @property
    def raw(self) -> str: ...

    @property
    def vct(self) -> str: ...

    @property
    def claims(self) -> Mapping[str, Any]: ...

    @property
    def signer(self) -> Signer: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    raw: str
    vct: str
    claims: Mapping[str, Any]
    signer: Signer


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    client_id: str
    name: str
    uscc: str
    sector: str
    region: str
    grants: tuple[policy.Grant, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class PresentationRequest:
    """A verified request and the registration of the RP that sent it."""

    request_uri: str
    request: VerifiedRequest
    registration: Registration
    purpose: str

    def summary(self) -> dict[str, Any]:
        """Who asks, for what purpose, which claims (for the consent screen)."""
        return {
            "verifier": self.registration.name,
            "uscc": self.registration.uscc,
            "sector": self.registration.sector,
            "client_id": self.request.client_id,
            "purpose": self.purpose,
            "claims": {
                c.id: [dcql.render(p) for p in c.all_paths()]
                for c in self.request.query.credentials
            },
        }


def fetch_request(
    request_uri: str, *, anchors: list[x509.Certificate], client: httpx.Client
) -> PresentationRequest:
    """Fetch, verify and check a request against the RP's registration."""
    try:
        response = client.get(request_uri)
    except httpx.HTTPError as exc:
        raise InvalidRequest(
            f"request_uri unreachable: {type(exc).__name__}", code="request_uri_unreachable"
        ) from None
    if response.status_code != 200:
        raise InvalidRequest(
            f"request_uri gave HTTP {response.status_code}", code="request_uri_unreachable"
        )
    verified = request_object.verify(response.text.strip(), anchors)
    if _origin(verified.response_uri) != _origin(request_uri):
        raise InvalidRequest(
            "response_uri is not on the request's origin", code="response_uri_untrusted"
        )
    registration = verify_registration(verified, anchors)
    purpose = verified.claims.get("purpose")
    if not isinstance(purpose, str):
        raise InvalidRequest("request has no purpose", code="request_malformed")
    check_registration(verified.query, registration, purpose)
    return PresentationRequest(request_uri, verified, registration, purpose)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def verify_registration(request: VerifiedRequest, anchors: list[x509.Certificate]) -> Registration:
    """The RP CA-signed registration in ``verifier_info`` for this ``client_id``."""
    infos = request.claims.get("verifier_info")
    token = (
        next(
            (i.get("data") for i in infos if isinstance(i, Mapping) and i.get("format") == "jwt"),
            None,
        )
        if isinstance(infos, list)
        else None
    )
    if not isinstance(token, str):
        raise AccessDenied("request carries no RP registration", code="registration_missing")
    unverified = jws.decode_compact(token, what="RP registration")
    if unverified.header.get("typ") != REGISTRATION_TYP:
        raise UntrustedVerifier("registration typ is wrong", code="registration_invalid")
    payload = _json.loads_object(unverified.payload, what="RP registration")
    if not _signed_by_anchor(unverified, anchors):
        raise UntrustedVerifier(
            "registration is not signed by the RP CA", code="registration_invalid"
        )
    exp = payload.get("exp")
    if payload.get("sub") != request.client_id or not isinstance(exp, int) or exp <= clock.epoch():
        raise UntrustedVerifier(
            "registration is for another RP or expired", code="registration_invalid"
        )
    return Registration(
        client_id=request.client_id,
        name=str(payload.get("name")),
        uscc=str(payload.get("uscc")),
        sector=str(payload.get("sector")),
        region=str(payload.get("region")),
        grants=tuple(policy.Grant.from_json(g) for g in payload.get("grants", [])),
    )


def _signed_by_anchor(token: jws.UnverifiedJws, anchors: list[x509.Certificate]) -> bool:
    for anchor in anchors:
        key = anchor.public_key()
        try:
            jws.verify(token, key, allowed_algs=frozenset({"ES256"}))  # type: ignore[arg-type]
            return True
        except InvalidSignature:
            continue
    return False


def check_registration(query: dcql.DcqlQuery, registration: Registration, purpose: str) -> None:
    """Refuse a query asking beyond the RP's registered types, claims and purposes."""
    for credential in query.credentials:
        for path in credential.all_paths():
            name = policy.claim_name(path)
            if not any(
                policy.permitted(registration.grants, g.credential_type, purpose, name)
                and _vct_is(credential.vct_values, g.credential_type)
                for g in registration.grants
            ):
                raise AccessDenied(
                    f"{registration.name} asks for {name} beyond its registration",
                    code="beyond_registration",
                )


def _vct_is(vct_values: Sequence[str], type_id: str) -> bool:
    return any(v.rstrip("/").rsplit("/", 1)[-1] == type_id for v in vct_values)


def choose(
    request: PresentationRequest, holdings: Sequence[Holding]
) -> dict[str, tuple[Holding, tuple[dcql.ClaimPath, ...]]]:
    """For each credential query, a holding that satisfies it and the paths to disclose."""
    chosen: dict[str, tuple[Holding, tuple[dcql.ClaimPath, ...]]] = {}
    for query in request.request.query.credentials:
        for holding in holdings:
            if holding.vct not in query.vct_values:
                continue
            try:
                paths = dcql.disclosure_paths(query, holding.claims)
            except ELicenseError:
                continue
            _check_region(request.registration, holding)
            chosen[query.id] = (holding, paths)
            break
    dcql.check_credential_sets(request.request.query, chosen)
    return chosen


def _check_region(registration: Registration, holding: Holding) -> None:
    region = holding.claims.get("issuing_region")
    if region is not None and not policy.region_covers(registration.region, region):
        raise AccessDenied(
            "this credential is only for verifiers of its region", code="region_mismatch"
        )


def build_response(
    request: PresentationRequest, chosen: Mapping[str, tuple[Holding, Sequence[dcql.ClaimPath]]]
) -> dict[str, str]:
    """The form to post: ``vp_token`` + ``state``, or the encrypted ``response``."""
    verified = request.request
    vp_token = {
        qid: [
            sd_jwt.present(
                holding.raw,
                paths,
                key_binding=sd_jwt.KeyBindingRequest(
                    signer=holding.signer, nonce=verified.nonce, audience=verified.client_id
                ),
            )
        ]
        for qid, (holding, paths) in chosen.items()
    }
    state = verified.state or ""
    if verified.response_mode != "direct_post.jwt":
        return {"vp_token": json.dumps(vp_token), "state": state}
    key, enc = _encryption_key(verified.claims)
    body = _json.dumps({"vp_token": vp_token, "state": state})
    return {"response": jwe.encrypt(body, key, enc=enc)}


def _encryption_key(claims: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    metadata = claims.get("client_metadata")
    keys = metadata.get("jwks", {}).get("keys") if isinstance(metadata, Mapping) else None
    key = next((k for k in keys or [] if isinstance(k, Mapping) and k.get("kty") == "EC"), None)
    if key is None:
        raise InvalidRequest("no encryption key in client_metadata", code="request_no_enc_key")
    offered = (
        metadata.get("encrypted_response_enc_values_supported", ["A128GCM"])
        if isinstance(metadata, Mapping)
        else []
    )
    enc = next((e for e in ("A256GCM", "A128GCM") if e in offered), None)
    if enc is None:
        raise InvalidRequest("no supported enc value", code="request_no_enc_key")
    return key, enc


def post_response(
    request: PresentationRequest, form: Mapping[str, str], *, client: httpx.Client
) -> httpx.Response:
    return client.post(request.request.response_uri, data=dict(form))


def present(
    request_uri: str,
    holdings: Sequence[Holding],
    *,
    anchors: list[x509.Certificate],
    client: httpx.Client,
) -> httpx.Response:
    """Fetch, check, present and post in one go (consent already given)."""
    request = fetch_request(request_uri, anchors=anchors, client=client)
    return post_response(request, build_response(request, choose(request, holdings)), client=client)


def load_anchor(pem_or_b64: str) -> x509.Certificate:
    return load_certificate(pem_or_b64)


def anchor_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
