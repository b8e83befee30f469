"""``elicense rp``: a relying party's back office from the command line.

* ``rp register`` (platform admin, Bearer ``ELICENSE_VERIFICATION_ADMIN_TOKEN``):
  registers an RP and prints its ``rp_id`` and client secret (shown once).
* ``rp request``: creates a presentation request (a preset or a DCQL file) with the RP's
  credentials (``--rp-id`` / ``ELICENSE_RP_ID``, ``ELICENSE_RP_SECRET``) and prints the
  ``request_uri``, the same-device deep link and the cross-device QR code.
* ``rp result REQUEST_ID [--wait S]``: polls for the result and prints it as JSON (the
  disclosed claims and every named check); exit 0 only if verified.
* ``rp purge``: drops stored results past retention (for cron; servers also do it).

Everything but ``purge`` goes over HTTP to ``--server`` (``ELICENSE_SERVER_URL``).
Failures are one line ``error [code]: message`` on stderr and exit code 1.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from elicense.catalog import load_catalog
from elicense.console import clear_errors, runtime_scope
from elicense.errors import ConfigError, ELicenseError
from elicense.verification.context import ADMIN_TOKEN_ENV, ROUTE_PREFIX
from elicense.verification.policy import claim_name, load_presets
from elicense.wallet.http import TRANSPORT_ERRORS, issuer_error

RP_ID_ENV = "ELICENSE_RP_ID"
RP_SECRET_ENV = "ELICENSE_RP_SECRET"  # noqa: S105 (a variable name)
SERVER_ENV = "ELICENSE_SERVER_URL"
DEFAULT_SERVER = "http://127.0.0.1:8000"
POLL_SECONDS = 0.5

rp_app = typer.Typer(
    help="Relying-party back office: register, create presentation requests, fetch results.",
    no_args_is_help=True,
)

Server = Annotated[
    str, typer.Option("--server", envvar=SERVER_ENV, help="eLicense server base URL.")
]
RpId = Annotated[
    str, typer.Option("--rp-id", envvar=RP_ID_ENV, help="The RP's id (from rp register).")
]


class RpCommandError(ELicenseError):
    code = "rp_command_failed"
    status = 400
    title = "RP command failed"


class VerificationRejected(ELicenseError):
    """The result came back, and it is not ``verified``; the code is the verifier's."""

    code = "verification_rejected"
    status = 400
    title = "Verification rejected"


# --- HTTP ----------------------------------------------------------------------------------


def _call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        with httpx.Client(timeout=30.0, follow_redirects=False) as client:
            return client.request(method, url, **kwargs)
    except TRANSPORT_ERRORS as exc:
        raise RpCommandError(
            f"{method} {url} failed: {type(exc).__name__}", code="server_unreachable"
        ) from None


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise issuer_error(response, what)
    body = response.json()
    if not isinstance(body, dict):
        raise RpCommandError(f"{what}: not a JSON object", code="invalid_response")
    return body


def _url(server: str, path: str) -> str:
    return f"{server.rstrip('/')}{ROUTE_PREFIX}{path}"


def _secret() -> str:
    secret = os.environ.get(RP_SECRET_ENV)
    if not secret:
        raise ConfigError(f"set {RP_SECRET_ENV} to the RP's client secret")
    return secret


# --- grants --------------------------------------------------------------------------------


def preset_grants(sector: str) -> list[dict[str, Any]]:
    """The grants a sector's presets need (every claim they may ask, optional ones too),
    one per credential type — read through the same loader the verifier uses."""
    catalog = load_catalog()
    merged: dict[str, tuple[set[str], set[str]]] = {}
    for preset in load_presets(catalog).values():
        if preset.sector != sector:
            continue
        for credential in preset.query.credentials:
            type_id = catalog.by_vct(credential.vct_values[0]).id
            purposes, claims = merged.setdefault(type_id, (set(), set()))
            purposes.add(preset.purpose)
            claims.update(claim_name(path) for path in credential.all_paths())
    return [
        {"credential_type": t, "purposes": sorted(p), "claims": sorted(c)}
        for t, (p, c) in sorted(merged.items())
    ]


def parse_grant(text: str) -> dict[str, Any]:
    """``TYPE:PURPOSE[,PURPOSE]:CLAIM[,CLAIM]`` (dotted claim names)."""
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise RpCommandError(
            f"--grant {text!r}: expected TYPE:PURPOSES:CLAIMS", code="grant_invalid"
        )
    ctype, purposes, claims = parts
    return {
        "credential_type": ctype,
        "purposes": [p for p in purposes.split(",") if p],
        "claims": [c for c in claims.split(",") if c],
    }


# --- commands ------------------------------------------------------------------------------


@rp_app.command()
@clear_errors
def register(
    name: Annotated[str, typer.Option(help="Organisation name (shown to citizens).")],
    uscc: Annotated[str, typer.Option(help="Unified social credit code (GB 32100).")],
    sector: Annotated[str, typer.Option(help="bank, hotel, rail, hospital, ...")],
    region: Annotated[str, typer.Option(help="6-digit division code, e.g. 330100.")],
    client_host: Annotated[str, typer.Option(help="DNS name in the access certificate.")],
    server: Server = DEFAULT_SERVER,
    grant: Annotated[
        list[str] | None,
        typer.Option(
            help="TYPE:PURPOSES:CLAIMS (repeatable); default: what the sector's presets need."
        ),
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Where results are POSTed.")] = None,
) -> None:
    """Register a relying party (platform admin); prints its rp_id and secret once."""
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise ConfigError(f"set {ADMIN_TOKEN_ENV} to the platform admin token")
    grants = [parse_grant(g) for g in grant] if grant else preset_grants(sector)
    if not grants:
        raise RpCommandError(
            f"no presets for sector {sector!r}; give --grant", code="grant_invalid"
        )
    body = {
        "name": name,
        "uscc": uscc,
        "sector": sector,
        "region": region,
        "client_host": client_host,
        "grants": grants,
        "webhook_url": webhook_url,
    }
    headers = {"Authorization": f"Bearer {token}"}
    found = _json(_call("POST", _url(server, "/rps"), json=body, headers=headers), "register")
    typer.echo(f"rp_id: {found['rp_id']}")
    typer.echo(f"client_id: {found['client_id']}")
    typer.echo(f"client_secret: {found['client_secret']}  (shown once; store it now)")
    for g in grants:
        typer.echo(
            f"grant: {g['credential_type']} for {','.join(g['purposes'])}: {','.join(g['claims'])}"
        )


@rp_app.command()
@clear_errors
def request(
    rp_id: RpId,
    server: Server = DEFAULT_SERVER,
    preset: Annotated[str | None, typer.Option(help="mortgage, hotel_check_in, ...")] = None,
    dcql: Annotated[Path | None, typer.Option(help="A DCQL query (JSON file).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Purpose (required with --dcql).")] = None,
    encrypted: Annotated[
        bool, typer.Option(help="Ask for an encrypted response (direct_post.jwt).")
    ] = False,
    qr: Annotated[Path | None, typer.Option(help="Save the QR code PNG here.")] = None,
) -> None:
    """Create a presentation request; prints the request_uri, deep link and QR code."""
    if (preset is None) == (dcql is None):
        raise RpCommandError("give exactly one of --preset or --dcql", code="request_invalid")
    body: dict[str, Any] = {"response_mode": "direct_post.jwt" if encrypted else "direct_post"}
    if preset is not None:
        body["preset"] = preset
    if dcql is not None:
        body["dcql_query"] = _read_json(dcql)
    if purpose is not None:
        body["purpose"] = purpose
    auth = (rp_id, _secret())
    created = _json(
        _call("POST", _url(server, "/requests"), json=body, auth=auth), "create request"
    )
    typer.echo(f"request_id: {created['id']}")
    typer.echo(f"request_uri: {created['request_uri']}")
    typer.echo(f"deep_link: {created['deep_link']}")
    typer.echo(f"qr: {created['qr_uri']}")
    if qr is not None:
        response = _call("GET", created["qr_uri"])
        if response.status_code != 200:
            raise issuer_error(response, "QR code")
        qr.write_bytes(response.content)
        typer.echo(f"qr saved: {qr}")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise RpCommandError(f"cannot read {path}: {exc}", code="dcql_unreadable") from None


@rp_app.command()
@clear_errors
def result(
    request_id: Annotated[str, typer.Argument(help="The request's id (vpr_...).")],
    rp_id: RpId,
    server: Server = DEFAULT_SERVER,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to keep polling while pending.")
    ] = 0.0,
) -> None:
    """Fetch the result (once): the verified claims and every check, as JSON.

    Exit 0 only if verified; 1 with the verifier's error code otherwise."""
    found = poll_result(server, rp_id, _secret(), request_id, wait)
    typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    raise_unless_verified(found)


def poll_result(
    server: str, rp_id: str, secret: str, request_id: str, wait: float
) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    url = _url(server, f"/requests/{request_id}/result")
    while True:
        response = _call("GET", url, auth=(rp_id, secret))
        if response.status_code != 202:
            return _json(response, "result")
        if time.monotonic() >= deadline:
            raise RpCommandError(
                f"no answer yet for {request_id} (still pending)", code="result_pending"
            )
        time.sleep(POLL_SECONDS)


def raise_unless_verified(found: Mapping[str, Any]) -> None:
    if found.get("outcome") == "verified":
        return
    error = found.get("error") or {}
    code = error.get("code") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    raise VerificationRejected(
        f"not verified: {message or found.get('outcome')}", code=code or "verification_rejected"
    )


@rp_app.command()
@clear_errors
def purge() -> None:
    """Drop stored results past retention in the database named by the environment."""
    from elicense.verification import service

    with runtime_scope() as runtime, runtime.db.transaction() as session:
        count = service.purge_expired(session)
    typer.echo(f"purged {count} result(s) past retention")
