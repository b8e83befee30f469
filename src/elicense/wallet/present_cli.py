"""``elicense wallet present REQUEST_URI [--yes]``: answer an OpenID4VP request.

Shows who asks (registered name, social credit code, sector, ``client_id``), the
purpose and exactly which claims, asks for consent unless ``--yes``, then presents
only those claims from the wallet file. ``REQUEST_URI`` may be the ``request_uri`` or
the whole ``openid4vp://?client_id=…&request_uri=…`` link. The RP CA the request must
chain to is ``ELICENSE_RP_CA`` (a PEM file; default
``$ELICENSE_DATA_DIR/keys/rp_ca/rp_ca.cert.pem``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import typer
from cryptography import x509

from elicense.errors import AccessDenied, ConfigError
from elicense.wallet import openid4vp
from elicense.wallet.http import new_client
from elicense.wallet.store import DEFAULT_PATH, WalletFile

RP_CA_ENV = "ELICENSE_RP_CA"
PASSPHRASE_ENV = "ELICENSE_WALLET_PASSPHRASE"  # noqa: S105 (a variable name)


def request_uri_of(value: str) -> str:
    """The ``request_uri`` inside an ``openid4vp://`` link, or ``value`` itself."""
    if not value.startswith("openid4vp:"):
        return value
    found = parse_qs(urlsplit(value).query).get("request_uri")
    if not found:
        raise AccessDenied("the link has no request_uri", code="request_uri_missing")
    return found[0]


def rp_ca_anchors() -> list[x509.Certificate]:
    path = os.environ.get(RP_CA_ENV)
    if path is None:
        from elicense.config import load_settings

        path = str(load_settings().keys_dir / "rp_ca" / "rp_ca.cert.pem")
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the RP CA {path}: {exc}") from None


def present(request_uri: str, yes: bool = False, wallet: Path | None = None) -> None:
    """Fetch the request, show it, ask consent, present the requested claims only."""
    path = (wallet or DEFAULT_PATH).expanduser()
    passphrase = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
        "Wallet passphrase", hide_input=True, err=True
    )
    contents = WalletFile.open(path, passphrase).load()
    holdings = [
        openid4vp.Held(c.raw, c.vct, c.claims, contents.signer_for(c)) for c in contents.list()
    ]
    with new_client() as client:
        request = openid4vp.fetch_request(
            request_uri_of(request_uri), anchors=rp_ca_anchors(), client=client
        )
        chosen = openid4vp.choose(request, holdings)
        typer.echo(json.dumps(request.summary(), ensure_ascii=False, indent=2))
        if not yes and not typer.confirm("Share these claims?", default=False):
            raise AccessDenied("the holder declined", code="holder_declined")
        response = openid4vp.post_response(
            request, openid4vp.build_response(request, chosen), client=client
        )
    if response.status_code != 200:
        typer.echo(response.text, err=True)
        raise typer.Exit(1)
    typer.echo("presented")
