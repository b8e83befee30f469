"""The OpenID4VCI 1.0 holder: redeem a pre-authorized Credential Offer into the wallet.

:meth:`Holder.receive` runs the whole flow against any conformant Credential Issuer:

1. Credential Issuer metadata (``/.well-known/openid-credential-issuer``, Section 12.2)
   and Authorization Server metadata (RFC 8414 ``/.well-known/oauth-authorization-server``).
2. Token request with the pre-authorized code (and ``tx_code``), DPoP-bound (RFC 9449):
   a fresh ephemeral key per flow, a new proof per request, ``DPoP-Nonce`` honoured.
   The token request is never retried (the code is single use).
3. ``c_nonce`` from the Nonce Endpoint (Section 7), then one ``openid4vci-proof+jwt``
   per credential, each signed by a fresh holder key (batch issuance needs distinct keys).
4. Credential request with ``proofs.jwt`` and a DPoP proof carrying ``ath``. A network
   failure is retried with byte-identical JSON (only the DPoP proof is new), so an
   idempotent issuer returns the same credentials rather than new ones; an
   ``invalid_nonce`` answer gets one fresh nonce and fresh proofs.
5. Every credential is verified against the issuer's published keys with
   :func:`~elicense.formats.sd_jwt_vc.verify_credential`, and its ``cnf`` must be one of
   our keys, before it is added to the wallet. Nothing unverified is ever stored.
6. A ``credential_accepted`` notification when the issuer has a Notification Endpoint
   (best effort: its failure does not undo a stored credential).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from elicense import clock
from elicense.crypto import trust as trust_lists
from elicense.crypto.jwk import thumbprint
from elicense.errors import ConfigError, ELicenseError
from elicense.formats import sd_jwt_vc
from elicense.wallet import dpop
from elicense.wallet.errors import IssuerError, IssuerUnreachable, OfferInvalid
from elicense.wallet.http import HttpClient, HttpResponse, issuer_error, json_object, send
from elicense.wallet.offer import PRE_AUTHORIZED_GRANT, CredentialOffer, UrlPolicy
from elicense.wallet.store import (
    ClaimDisplay,
    CredentialDisplay,
    HolderKey,
    StoredCredential,
    Wallet,
    new_credential_id,
)

log = logging.getLogger("elicense.wallet")
SD_JWT_VC_FORMAT = "dc+sd-jwt"
CREDENTIAL_ATTEMPTS = 3


# --- metadata ----------------------------------------------------------------------------


def well_known(identifier: str, suffix: str) -> str:
    """``https://host/.well-known/<suffix>/<path>`` (RFC 8615 insertion, as Section 12.2.2
    and RFC 8414 Section 3 specify)."""
    parts = urlsplit(identifier)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{path}", "", ""))


@dataclasses.dataclass(frozen=True, slots=True)
class IssuerMetadata:
    credential_issuer: str
    credential_endpoint: str
    nonce_endpoint: str | None
    notification_endpoint: str | None
    authorization_servers: tuple[str, ...]
    configurations: Mapping[str, Mapping[str, Any]]
    batch_size: int
    jwks_uri: str | None

    def configuration(self, configuration_id: str) -> Mapping[str, Any]:
        config = self.configurations.get(configuration_id)
        if config is None:
            raise IssuerError(
                f"the issuer does not describe credential configuration {configuration_id!r}",
                code="unknown_credential_configuration",
            )
        return config


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationServerMetadata:
    issuer: str
    token_endpoint: str
    dpop_algs: tuple[str, ...]
    jwks_uri: str | None


def fetch_issuer_metadata(client: HttpClient, issuer: str, policy: UrlPolicy) -> IssuerMetadata:
    headers = {"Accept": "application/json", "Accept-Language": "zh-CN, en"}
    url = well_known(issuer, "openid-credential-issuer")
    body = json_object(send(client, "GET", url, headers=headers, attempts=3), "issuer metadata")
    if body.get("credential_issuer") != issuer:
        raise IssuerError(
            "issuer metadata names a different credential_issuer", code="metadata_mismatch"
        )
    batch = body.get("batch_credential_issuance")
    batch_size = batch.get("batch_size") if isinstance(batch, Mapping) else None
    configurations = body.get("credential_configurations_supported")
    servers = body.get("authorization_servers") or [issuer]
    if not isinstance(configurations, Mapping) or not isinstance(servers, list):
        raise IssuerError("issuer metadata is malformed", code="metadata_malformed")
    return IssuerMetadata(
        credential_issuer=issuer,
        credential_endpoint=_endpoint(body, "credential_endpoint", policy, required=True) or "",
        nonce_endpoint=_endpoint(body, "nonce_endpoint", policy),
        notification_endpoint=_endpoint(body, "notification_endpoint", policy),
        authorization_servers=tuple(policy.check(str(s), "authorization_server") for s in servers),
        configurations=configurations,
        batch_size=batch_size if isinstance(batch_size, int) and batch_size > 1 else 1,
        jwks_uri=_endpoint(body, "jwks_uri", policy),
    )


def fetch_authorization_server_metadata(
    client: HttpClient, server: str, policy: UrlPolicy
) -> AuthorizationServerMetadata:
    url = well_known(server, "oauth-authorization-server")
    response = send(client, "GET", url, headers={"Accept": "application/json"}, attempts=3)
    if response.status_code == 404:
        url = well_known(server, "openid-configuration")
        response = send(client, "GET", url, headers={"Accept": "application/json"}, attempts=3)
    body = json_object(response, "authorization server metadata")
    if body.get("issuer") != server:
        raise IssuerError(
            "authorization server metadata names a different issuer", code="metadata_mismatch"
        )
    algs = body.get("dpop_signing_alg_values_supported") or []
    return AuthorizationServerMetadata(
        issuer=server,
        token_endpoint=_endpoint(body, "token_endpoint", policy, required=True) or "",
        dpop_algs=tuple(str(a) for a in algs) if isinstance(algs, list) else (),
        jwks_uri=_endpoint(body, "jwks_uri", policy),
    )


def _endpoint(
    body: Mapping[str, Any], name: str, policy: UrlPolicy, *, required: bool = False
) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise IssuerError(f"metadata lacks {name}", code="metadata_malformed")
    return policy.check(value, name)


# --- display metadata -------------------------------------------------------------------


def credential_display(config: Mapping[str, Any]) -> CredentialDisplay:
    """Names and claim labels of a configuration (1.0: under ``credential_metadata``)."""
    meta = config.get("credential_metadata")
    source = meta if isinstance(meta, Mapping) else config
    names = _labels(source.get("display"))
    claims = source.get("claims")
    items = claims if isinstance(claims, list) else []
    return CredentialDisplay(
        names=names,
        claims=tuple(
            ClaimDisplay(tuple(c["path"]), _labels(c.get("display")))
            for c in items
            if isinstance(c, Mapping) and isinstance(c.get("path"), list)
        ),
    )


def _labels(display: object) -> dict[str, str]:
    entries = display if isinstance(display, list) else []
    labels: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            labels[str(entry.get("locale") or "und")] = entry["name"]
    return labels


# --- DPoP session -------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _DpopSession:
    """One ephemeral DPoP key for a flow and the latest ``DPoP-Nonce`` per server."""

    key: HolderKey
    nonces: dict[str, str] = dataclasses.field(default_factory=dict)

    def headers(self, method: str, url: str, access_token: str | None = None) -> dict[str, str]:
        nonce = self.nonces.get(_origin(url))
        proof = dpop.dpop_proof(
            self.key.signer(), method, url, access_token=access_token, nonce=nonce
        )
        return {"DPoP": proof}

    def remember(self, url: str, response: HttpResponse) -> bool:
        """Keep a ``DPoP-Nonce``; True if the server demanded one (retry once)."""
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonces[_origin(url)] = nonce
        return bool(nonce) and _asks_for_nonce(response)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _asks_for_nonce(response: HttpResponse) -> bool:
    if response.status_code not in (400, 401):
        return False
    if "use_dpop_nonce" in response.headers.get("www-authenticate", ""):
        return True
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"


# --- the holder ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AccessToken:
    token: str = dataclasses.field(repr=False)
    scheme: str
    credential_identifiers: Mapping[str, tuple[str, ...]]


@dataclasses.dataclass(frozen=True, slots=True)
class _Issued:
    raw: str
    verified: sd_jwt_vc.VerifiedCredential
    key: HolderKey


class Holder:
    """An OpenID4VCI 1.0 wallet over an injected HTTP client."""

    def __init__(self, client: HttpClient, *, policy: UrlPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or UrlPolicy()

    def receive(
        self,
        offer: CredentialOffer,
        wallet: Wallet,
        *,
        tx_code: str | None = None,
        copies: int = 1,
    ) -> list[StoredCredential]:
        """Redeem ``offer``; add each verified credential (and its key) to ``wallet``."""
        if offer.tx_code is not None and not tx_code:
            raise OfferInvalid(
                "this offer needs the transaction code sent to you (--tx-code)",
                code="tx_code_required",
            )
        metadata = fetch_issuer_metadata(self.client, offer.credential_issuer, self.policy)
        server = offer.authorization_server or metadata.authorization_servers[0]
        as_metadata = fetch_authorization_server_metadata(self.client, server, self.policy)
        session = _DpopSession(HolderKey.generate())
        token = self.request_token(as_metadata, session, offer, tx_code)
        trust = self.issuer_trust(metadata, as_metadata)
        stored: list[StoredCredential] = []
        for configuration_id in offer.credential_configuration_ids:
            config = metadata.configuration(configuration_id)
            count = max(1, min(copies, metadata.batch_size))
            issued, notification_id = self.request_credentials(
                metadata, session, token, configuration_id, config, count, trust
            )
            for item in issued:
                credential = _stored(item, configuration_id, config, notification_id)
                wallet.keys[item.key.kid] = item.key
                wallet.add(credential)
                stored.append(credential)
            self.notify(metadata, session, token, notification_id, "credential_accepted")
        return stored

    # -- token ----------------------------------------------------------------------------

    def request_token(
        self,
        server: AuthorizationServerMetadata,
        session: _DpopSession,
        offer: CredentialOffer,
        tx_code: str | None,
    ) -> AccessToken:
        form = {
            "grant_type": PRE_AUTHORIZED_GRANT,
            "pre-authorized_code": offer.pre_authorized_code,
        }
        if tx_code:
            form["tx_code"] = tx_code
        body = urlencode(form).encode("ascii")
        url = server.token_endpoint
        response = self._post_token(url, body, session)
        if session.remember(url, response):
            response = self._post_token(url, body, session)
        reply = json_object(response, "token request")
        access_token, scheme = reply.get("access_token"), reply.get("token_type")
        if not isinstance(access_token, str) or not isinstance(scheme, str):
            raise IssuerError(
                "token response lacks access_token/token_type", code="invalid_response"
            )
        if scheme.lower() not in ("dpop", "bearer"):
            raise IssuerError(f"unsupported token_type {scheme}", code="invalid_response")
        return AccessToken(
            access_token,
            "DPoP" if scheme.lower() == "dpop" else "Bearer",
            _credential_identifiers(reply.get("authorization_details")),
        )

    def _post_token(self, url: str, body: bytes, session: _DpopSession) -> HttpResponse:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            **session.headers("POST", url),
        }
        return send(self.client, "POST", url, content=body, headers=headers)

    # -- issuer keys ----------------------------------------------------------------------

    def issuer_trust(
        self, metadata: IssuerMetadata, server: AuthorizationServerMetadata
    ) -> trust_lists.TrustList:
        """The issuer's signing keys as a one-issuer trust list."""
        issuer = metadata.credential_issuer
        jwks = self._jwt_vc_issuer_jwks(issuer)
        for uri in (metadata.jwks_uri, server.jwks_uri, well_known(issuer, "jwks.json")):
            if jwks is None and uri is not None:
                jwks = self._jwks_at(uri)
        if not jwks:
            raise IssuerError("the issuer publishes no signing keys", code="issuer_keys_missing")
        try:
            return trust_lists.single_issuer(issuer, jwks)
        except ConfigError as exc:
            raise IssuerError(
                f"the issuer's keys are unusable: {exc.message}", code="issuer_keys_invalid"
            ) from None

    def _jwt_vc_issuer_jwks(self, issuer: str) -> list[Mapping[str, Any]] | None:
        response = send(self.client, "GET", well_known(issuer, "jwt-vc-issuer"), attempts=3)
        if response.status_code == 404:
            return None
        body = json_object(response, "JWT VC issuer metadata")
        if body.get("issuer") != issuer:
            raise IssuerError(
                "JWT VC issuer metadata names another issuer", code="metadata_mismatch"
            )
        if isinstance(body.get("jwks"), Mapping):
            return _keys(body["jwks"])
        uri = body.get("jwks_uri")
        return self._jwks_at(self.policy.check(uri, "jwks_uri")) if isinstance(uri, str) else None

    def _jwks_at(self, uri: str) -> list[Mapping[str, Any]] | None:
        response = send(self.client, "GET", uri, headers={"Accept": "application/json"}, attempts=3)
        if response.status_code == 404:
            return None
        return _keys(json_object(response, "issuer JWKS"))

    # -- nonce and credential -------------------------------------------------------------

    def fresh_nonce(self, metadata: IssuerMetadata) -> str | None:
        if metadata.nonce_endpoint is None:
            return None
        response = send(self.client, "POST", metadata.nonce_endpoint, content=b"", attempts=3)
        nonce = json_object(response, "nonce request").get("c_nonce")
        if not isinstance(nonce, str) or not nonce:
            raise IssuerError("nonce response lacks c_nonce", code="invalid_response")
        return nonce

    def request_credentials(
        self,
        metadata: IssuerMetadata,
        session: _DpopSession,
        token: AccessToken,
        configuration_id: str,
        config: Mapping[str, Any],
        count: int,
        trust: trust_lists.TrustList,
    ) -> tuple[list[_Issued], str | None]:
        if config.get("format") != SD_JWT_VC_FORMAT:
            raise IssuerError(
                f"credential format {config.get('format')!r} is not supported by this wallet",
                code="unsupported_credential_format",
            )
        keys = [HolderKey.generate() for _ in range(count)]
        target = _target(configuration_id, token)
        reply = None
        for _ in range(2):
            body = self._credential_body(metadata, keys, target)
            try:
                reply = self._post_credential(metadata.credential_endpoint, body, session, token)
                break
            except IssuerError as exc:
                if exc.instance_code != "invalid_nonce":
                    raise
        if reply is None:
            raise IssuerError("the issuer kept refusing fresh nonces", code="invalid_nonce")
        issued = _verify_all(reply, keys, trust, config)
        notification_id = reply.get("notification_id")
        return issued, notification_id if isinstance(notification_id, str) else None

    def _credential_body(
        self, metadata: IssuerMetadata, keys: Sequence[HolderKey], target: dict[str, str]
    ) -> bytes:
        nonce = self.fresh_nonce(metadata)
        proofs = [
            dpop.key_proof(k.signer(), audience=metadata.credential_issuer, nonce=nonce)
            for k in keys
        ]
        return json.dumps({**target, "proofs": {"jwt": proofs}}).encode("utf-8")

    def _post_credential(
        self, url: str, body: bytes, session: _DpopSession, token: AccessToken
    ) -> dict[str, Any]:
        """POST the credential request; resend the same bytes after a network failure."""
        nonce_retry = True
        for attempt in range(1, CREDENTIAL_ATTEMPTS + 1):
            headers = self._authorized(session, token, "POST", url)
            headers["Content-Type"] = "application/json"
            try:
                response = send(self.client, "POST", url, content=body, headers=headers)
            except IssuerUnreachable:
                if attempt == CREDENTIAL_ATTEMPTS:
                    raise
                log.info("credential request failed on the network; retrying the same request")
                time.sleep(0.2 * attempt)
                continue
            if session.remember(url, response) and nonce_retry:
                nonce_retry = False
                continue
            if response.status_code == 202:
                raise IssuerError("deferred issuance is not supported", code="issuance_pending")
            return json_object(response, "credential request")
        raise IssuerUnreachable(f"POST {url} did not succeed", url=url)

    def _authorized(
        self, session: _DpopSession, token: AccessToken, method: str, url: str
    ) -> dict[str, str]:
        headers = {"Authorization": f"{token.scheme} {token.token}", "Accept": "application/json"}
        if token.scheme == "DPoP":
            headers |= session.headers(method, url, access_token=token.token)
        return headers

    def notify(
        self,
        metadata: IssuerMetadata,
        session: _DpopSession,
        token: AccessToken,
        notification_id: str | None,
        event: str,
    ) -> None:
        """Tell the issuer what became of the credentials (best effort)."""
        url = metadata.notification_endpoint
        if url is None or notification_id is None:
            return
        body = json.dumps({"notification_id": notification_id, "event": event}).encode()
        try:
            headers = self._authorized(session, token, "POST", url)
            headers["Content-Type"] = "application/json"
            response = send(self.client, "POST", url, content=body, headers=headers)
            if session.remember(url, response):
                headers = self._authorized(session, token, "POST", url)
                headers["Content-Type"] = "application/json"
                response = send(self.client, "POST", url, content=body, headers=headers)
            if response.status_code >= 400:
                raise issuer_error(response, "notification")
        except ELicenseError as exc:
            log.warning("notification %s not delivered: %s", event, exc.instance_code)


def _credential_identifiers(details: object) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, Mapping):
            continue
        config_id, identifiers = (
            item.get("credential_configuration_id"),
            item.get("credential_identifiers"),
        )
        if isinstance(config_id, str) and isinstance(identifiers, list) and identifiers:
            found[config_id] = tuple(str(i) for i in identifiers)
    return found


def _target(configuration_id: str, token: AccessToken) -> dict[str, str]:
    identifiers = token.credential_identifiers.get(configuration_id)
    if identifiers:
        return {"credential_identifier": identifiers[0]}
    return {"credential_configuration_id": configuration_id}


def _keys(jwks: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        raise IssuerError("the issuer's JWKS is malformed", code="issuer_keys_invalid")
    return keys


def _verify_all(
    reply: Mapping[str, Any],
    keys: Sequence[HolderKey],
    trust: trust_lists.TrustList,
    config: Mapping[str, Any],
) -> list[_Issued]:
    items = reply.get("credentials")
    if not isinstance(items, list) or not items:
        raise IssuerError("credential response has no credentials", code="invalid_response")
    if len(items) > len(keys):
        raise IssuerError("the issuer sent more credentials than proofs", code="invalid_response")
    by_thumbprint = {k.kid: k for k in keys}
    vct = config.get("vct")
    policy = sd_jwt_vc.CredentialPolicy(
        accepted_vcts=frozenset({vct}) if isinstance(vct, str) else None
    )
    issued: list[_Issued] = []
    for item in items:
        raw = item.get("credential") if isinstance(item, Mapping) else None
        if not isinstance(raw, str):
            raise IssuerError("a credential is not a string", code="invalid_response")
        verified = sd_jwt_vc.verify_credential(raw, trust=trust, policy=policy)
        key = by_thumbprint.pop(thumbprint(verified.holder_jwk or {}), None)
        if key is None:
            raise IssuerError(
                "a credential is bound to a key this wallet did not prove", code="wrong_holder_key"
            )
        issued.append(_Issued(raw, verified, key))
    return issued


def _stored(
    item: _Issued,
    configuration_id: str,
    config: Mapping[str, Any],
    notification_id: str | None,
) -> StoredCredential:
    verified = item.verified
    return StoredCredential(
        id=new_credential_id(),
        format=SD_JWT_VC_FORMAT,
        raw=item.raw,
        issuer=verified.issuer,
        vct=verified.vct,
        configuration_id=configuration_id,
        holder_kid=item.key.kid,
        received_at=clock.epoch(),
        claims=verified.subject_claims(),
        display=credential_display(config),
        expires_at=verified.expires_at,
        status=verified.status.to_claim() if verified.status else None,
        notification_id=notification_id,
    )
