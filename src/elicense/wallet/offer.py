"""Credential Offers (OpenID4VCI 1.0 Section 4.1): parse by value or resolve by reference.

Accepted forms: ``openid-credential-offer://?credential_offer=<JSON>``, the same with
``credential_offer_uri=<https URL>`` (fetched with GET, ``application/json``), any HTTPS
URL carrying one of those two parameters (a QR code or a deep link), and the bare JSON
object. Only the pre-authorized code grant is supported by this wallet.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from elicense.wallet.errors import OfferInvalid
from elicense.wallet.http import HttpClient, json_object, send

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_SCHEMES = ("openid-credential-offer", "haip")
#: Hosts the wallet talks plain HTTP to (development on this machine only).
INSECURE_HTTP_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
MAX_OFFER_CHARS = 16 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class TxCode:
    """The transaction code the user must type (sent out of band, e.g. by SMS)."""

    input_mode: str = "numeric"
    length: int | None = None
    description: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialOffer:
    """A parsed offer with a pre-authorized code grant."""

    credential_issuer: str
    credential_configuration_ids: tuple[str, ...]
    pre_authorized_code: str = dataclasses.field(repr=False)
    tx_code: TxCode | None = None
    authorization_server: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which URLs the wallet follows: HTTPS, plus plain HTTP to ``insecure_http_hosts``."""

    insecure_http_hosts: frozenset[str] = INSECURE_HTTP_HOSTS

    def check(self, url: str, what: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host:
            return url
        if parts.scheme == "http" and (host in self.insecure_http_hosts):
            return url
        raise OfferInvalid(f"{what} must be an https URL, got {url[:80]!r}", code="offer_bad_url")


def resolve_offer(
    text: str, client: HttpClient, *, policy: UrlPolicy | None = None
) -> CredentialOffer:
    """Parse an offer given by value, or fetch it when given by reference."""
    policy = policy or UrlPolicy()
    value, uri = split_offer(text)
    if uri is not None:
        response = send(client, "GET", policy.check(uri, "credential_offer_uri"), attempts=3)
        return parse_offer_object(json_object(response, "credential offer"), policy)
    return parse_offer_object(_json(value or ""), policy)


def split_offer(text: str) -> tuple[str | None, str | None]:
    """``(credential_offer JSON, None)`` or ``(None, credential_offer_uri)``."""
    text = text.strip()
    if len(text) > MAX_OFFER_CHARS:
        raise OfferInvalid("the offer is too long", code="offer_too_large")
    if text.startswith("{"):
        return text, None
    parts = urlsplit(text)
    if parts.scheme not in (*OFFER_SCHEMES, "https", "http"):
        raise OfferInvalid("not a credential offer (unknown scheme)", code="offer_malformed")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    by_value, by_reference = query.get("credential_offer"), query.get("credential_offer_uri")
    if bool(by_value) == bool(by_reference):
        raise OfferInvalid(
            "an offer carries exactly one of credential_offer and credential_offer_uri",
            code="offer_malformed",
        )
    if by_value:
        return _single(by_value, "credential_offer"), None
    return None, _single(by_reference or [], "credential_offer_uri")


def _single(values: list[str], name: str) -> str:
    if len(values) != 1 or not values[0]:
        raise OfferInvalid(f"{name} must appear once, non-empty", code="offer_malformed")
    return values[0]


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise OfferInvalid("credential_offer is not JSON", code="offer_malformed") from None
    if not isinstance(value, dict):
        raise OfferInvalid("credential_offer is not a JSON object", code="offer_malformed")
    return value


def parse_offer_object(
    offer: Mapping[str, Any], policy: UrlPolicy | None = None
) -> CredentialOffer:
    """Validate the offer object (Section 4.1.1) and keep the pre-authorized grant."""
    policy = policy or UrlPolicy()
    issuer = offer.get("credential_issuer")
    if not isinstance(issuer, str):
        raise OfferInvalid("the offer has no credential_issuer", code="offer_malformed")
    policy.check(issuer, "credential_issuer")
    ids = offer.get("credential_configuration_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise OfferInvalid(
            "credential_configuration_ids must be a non-empty list of strings",
            code="offer_malformed",
        )
    grant = _pre_authorized_grant(offer.get("grants"))
    code = grant.get("pre-authorized_code")
    if not isinstance(code, str) or not code:
        raise OfferInvalid("the grant has no pre-authorized_code", code="offer_malformed")
    server = grant.get("authorization_server")
    return CredentialOffer(
        credential_issuer=issuer,
        credential_configuration_ids=tuple(ids),
        pre_authorized_code=code,
        tx_code=_tx_code(grant.get("tx_code")),
        authorization_server=policy.check(server, "authorization_server")
        if isinstance(server, str)
        else None,
    )


def _pre_authorized_grant(grants: object) -> Mapping[str, Any]:
    if not isinstance(grants, Mapping):
        raise OfferInvalid("the offer has no grants", code="offer_unsupported_grant")
    grant = grants.get(PRE_AUTHORIZED_GRANT)
    if not isinstance(grant, Mapping):
        raise OfferInvalid(
            "this wallet supports only the pre-authorized code grant",
            code="offer_unsupported_grant",
        )
    return grant


def _tx_code(value: object) -> TxCode | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise OfferInvalid("tx_code must be an object", code="offer_malformed")
    mode, length = value.get("input_mode"), value.get("length")
    description = value.get("description")
    if mode not in (None, "numeric", "text"):
        raise OfferInvalid("tx_code.input_mode must be numeric or text", code="offer_malformed")
    bad_length = not isinstance(length, int) or isinstance(length, bool) or length < 1
    if length is not None and bad_length:
        raise OfferInvalid("tx_code.length must be a positive integer", code="offer_malformed")
    return TxCode(
        input_mode=mode or "numeric",
        length=length,
        description=description if isinstance(description, str) else None,
    )
