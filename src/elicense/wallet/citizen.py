"""Holder-authenticated calls to the issuer: re-offers and the citizen's verification history.

Each call proves possession of a stored credential's key with a ``holder-auth+jwt``
(:mod:`elicense.wallet.holder_auth`) for a fresh nonce from the issuer's Nonce Endpoint.

* :meth:`Citizen.refresh` asks, with each stored credential's key, for re-offers
  (``POST /issuance/reoffers``). Each offer is redeemed through the ordinary OpenID4VCI
  holder (:class:`~elicense.wallet.openid4vci.Holder`, so every new credential is
  verified before it is stored), with as many copies as it replaces; then the replaced
  credentials (those whose key the offer names) are dropped with their keys.
* :meth:`Citizen.history` asks ``POST /verification/history`` with one credential's key;
  the answer covers every key of that person, so only credentials whose key it did not
  cover are asked again (a wallet may hold credentials of several persons).

A credential the issuer does not know (``holder_auth_unknown_key``), or an issuer
without these endpoints, is skipped; any other failure is reported per credential and
the rest goes on (what was received is kept).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from elicense.errors import ELicenseError
from elicense.wallet.errors import IssuerError
from elicense.wallet.holder_auth import holder_auth_jwt
from elicense.wallet.http import HttpClient, HttpResponse, issuer_error, json_object, send
from elicense.wallet.offer import UrlPolicy, parse_offer_object
from elicense.wallet.openid4vci import Holder, IssuerMetadata, fetch_issuer_metadata
from elicense.wallet.store import StoredCredential, Wallet

REOFFERS_PATH = "/issuance/reoffers"
HISTORY_PATH = "/verification/history"
#: Answers that mean "nothing to ask this issuer about this credential".
SKIPPED_CODES = frozenset(
    {"holder_auth_unknown_key", "holder_auth_ambiguous_key", "http_404", "no_nonce_endpoint"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class Refreshed:
    """Credentials received for a re-offer and the stored ones they replaced."""

    configuration_id: str
    old: tuple[StoredCredential, ...]
    new: tuple[StoredCredential, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """A credential the issuer was not asked about (skipped) or could not answer for."""

    credential: StoredCredential
    code: str
    message: str


@dataclasses.dataclass(slots=True)
class Problems:
    """Credentials skipped (nothing to ask) and those whose call failed."""

    skipped: list[Problem] = dataclasses.field(default_factory=list)
    failed: list[Problem] = dataclasses.field(default_factory=list)

    def file(self, credential: StoredCredential, exc: ELicenseError) -> None:
        problem = Problem(credential, exc.instance_code, exc.message)
        (self.skipped if exc.instance_code in SKIPPED_CODES else self.failed).append(problem)


@dataclasses.dataclass(slots=True)
class RefreshReport(Problems):
    refreshed: list[Refreshed] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One verification: who (name, sector), why, which claim names, when, outcome."""

    id: str
    at: str
    rp_name: str
    sector: str
    purpose: str
    claims: tuple[str, ...]
    outcome: str


@dataclasses.dataclass(slots=True)
class HistoryReport(Problems):
    entries: list[HistoryEntry] = dataclasses.field(default_factory=list)


class Citizen:
    """The wallet's holder-authenticated client over an injected HTTP client."""

    def __init__(self, client: HttpClient, *, policy: UrlPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or UrlPolicy()
        self._metadata: dict[str, IssuerMetadata] = {}

    # -- re-offers ---------------------------------------------------------------------

    def refresh(self, wallet: Wallet) -> RefreshReport:
        """Receive every re-offer the stored credentials' keys may claim."""
        report = RefreshReport()
        for credential in wallet.list():
            if credential.id not in wallet.credentials:
                continue  # replaced earlier in this run
            try:
                reply = self.call(wallet, credential, REOFFERS_PATH, {})
                for offer in _list(reply, "offers"):
                    report.refreshed.append(self._receive(wallet, credential.issuer, offer))
            except ELicenseError as exc:
                report.file(credential, exc)
        return report

    def _receive(self, wallet: Wallet, issuer: str, document: object) -> Refreshed:
        if (
            not isinstance(document, Mapping)
            or not isinstance(document.get("replaces"), list)
            or not isinstance(document.get("credential_offer"), Mapping)
        ):
            raise IssuerError("a re-offer is malformed", code="invalid_response")
        offer = parse_offer_object(document["credential_offer"], self.policy)
        if offer.credential_issuer != issuer:
            raise IssuerError("a re-offer names another issuer", code="invalid_response")
        replaces = {str(k) for k in document["replaces"]}
        old = tuple(
            c
            for c in wallet.list()
            if c.issuer == issuer
            and c.holder_kid in replaces
            and c.configuration_id in offer.credential_configuration_ids
        )
        holder = Holder(self.client, policy=self.policy)
        new = tuple(holder.receive(offer, wallet, copies=max(1, len(old))))
        for credential in old:
            wallet.remove(credential.id)
        return Refreshed(offer.credential_configuration_ids[0], old, new)

    # -- history -----------------------------------------------------------------------

    def history(self, wallet: Wallet, *, limit: int = 100) -> HistoryReport:
        """Every verification presented with the wallet's keys, newest first."""
        report, covered = HistoryReport(), set[str]()
        entries: dict[str, HistoryEntry] = {}
        for credential in reversed(wallet.list()):
            if credential.holder_kid in covered:
                continue
            try:
                reply = self.call(wallet, credential, HISTORY_PATH, {"limit": limit})
                found = [_history_entry(item) for item in _list(reply, "entries")]
            except ELicenseError as exc:
                report.file(credential, exc)
                continue
            covered.update(str(k) for k in _list(reply, "holder_keys"))
            covered.add(credential.holder_kid)
            entries.update((entry.id, entry) for entry in found)
        report.entries = sorted(entries.values(), key=lambda e: (e.at, e.id), reverse=True)
        return report

    # -- one holder-authenticated call --------------------------------------------------

    def call(
        self, wallet: Wallet, credential: StoredCredential, path: str, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        """POST ``{"holder_auth": …, **extra}`` to ``path`` at the credential's issuer."""
        url = self.policy.check(f"{credential.issuer}{path}", path)
        token = holder_auth_jwt(
            wallet.signer_for(credential), audience=url, nonce=self._nonce(credential.issuer)
        )
        body = json.dumps({"holder_auth": token, **extra}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        response = send(self.client, "POST", url, content=body, headers=headers)
        if response.status_code >= 400:
            raise _refined_error(response, path)
        return json_object(response, path)

    def _nonce(self, issuer: str) -> str:
        metadata = self._metadata.get(issuer)
        if metadata is None:
            metadata = fetch_issuer_metadata(self.client, issuer, self.policy)
            self._metadata[issuer] = metadata
        nonce = Holder(self.client, policy=self.policy).fresh_nonce(metadata)
        if nonce is None:
            raise IssuerError("the issuer has no nonce endpoint", code="no_nonce_endpoint")
        return nonce


def _refined_error(response: HttpResponse, what: str) -> IssuerError:
    """The issuer's error, keeping its refined ``code`` (``holder_auth_nonce``…) when sent."""
    error = issuer_error(response, what)
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return error
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code:
        return error
    return IssuerError(error.message, code=code, http_status=response.status_code)


def _list(reply: Mapping[str, Any], name: str) -> list[Any]:
    value = reply.get(name)
    if not isinstance(value, list):
        raise IssuerError(f"the answer lacks the list {name}", code="invalid_response")
    return value


def _history_entry(item: object) -> HistoryEntry:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise IssuerError("a history entry is malformed", code="invalid_response")
    rp: Mapping[str, Any] = item["rp"] if isinstance(item.get("rp"), Mapping) else {}
    claims = item.get("claims")
    return HistoryEntry(
        id=item["id"],
        at=str(item.get("at") or ""),
        rp_name=str(rp.get("name") or "?"),
        sector=str(rp.get("sector") or "-"),
        purpose=str(item.get("purpose") or "-"),
        claims=tuple(str(c) for c in claims) if isinstance(claims, list) else (),
        outcome=str(item.get("outcome") or "?"),
    )
