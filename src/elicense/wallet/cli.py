"""``elicense wallet``: receive, list and show credentials in a local wallet file.

The wallet file is ``--wallet PATH`` (or ``ELICENSE_WALLET``, default
``~/.elicense/wallet.json.enc``); its passphrase comes from
``ELICENSE_WALLET_PASSPHRASE`` or is asked for. Every failure is one line on stderr and
exit code 1.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from elicense.console import clear_errors
from elicense.wallet.errors import WalletError
from elicense.wallet.http import new_client
from elicense.wallet.offer import resolve_offer
from elicense.wallet.openid4vci import Holder
from elicense.wallet.store import DEFAULT_PATH, StoredCredential, WalletFile

P = ParamSpec("P")
R = TypeVar("R")
PASSPHRASE_ENV = "ELICENSE_WALLET_PASSPHRASE"  # noqa: S105 (a variable name)
LOCALES = ("zh-CN", "en")

wallet_app = typer.Typer(
    help="The citizen's wallet: receive credentials over OpenID4VCI, list and show them.",
    no_args_is_help=True,
)

WalletPath = Annotated[
    Path | None,
    typer.Option(
        "--wallet",
        envvar="ELICENSE_WALLET",
        help=f"Wallet file (default {DEFAULT_PATH}).",
        show_default=False,
    ),
]


def _os_errors(func: Callable[P, R]) -> Callable[P, R]:
    """An unreadable/unwritable wallet path is a clear wallet error, not a trace."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            raise WalletError(f"wallet file: {exc.strerror or exc}", code="wallet_io") from None

    return wrapper


def _path(wallet: Path | None) -> Path:
    return (wallet or DEFAULT_PATH).expanduser()


def _passphrase(path: Path) -> str:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    creating = not path.exists()
    value: str = typer.prompt(
        "New wallet passphrase" if creating else "Wallet passphrase",
        hide_input=True,
        confirmation_prompt=creating,
        err=True,
    )
    return value


@wallet_app.command()
@clear_errors
@_os_errors
def receive(
    offer: Annotated[str, typer.Argument(help="Offer: openid-credential-offer://… or URL.")],
    tx_code: Annotated[
        str | None, typer.Option("--tx-code", help="Transaction code sent to you.")
    ] = None,
    copies: Annotated[
        int, typer.Option(min=1, max=10, help="Copies, each bound to its own key.")
    ] = 1,
    wallet: WalletPath = None,
) -> None:
    """Redeem a credential offer and store the verified credential(s)."""
    path = _path(wallet)
    handle = WalletFile.open(path, _passphrase(path), create=True)
    with new_client() as client:
        parsed = resolve_offer(offer, client)
        with handle.transaction() as contents:
            stored = Holder(client).receive(parsed, contents, tx_code=tx_code, copies=copies)
    for credential in stored:
        typer.echo(f"received {credential.id}  {_title(credential)}  from {credential.issuer}")


@wallet_app.command("list")
@clear_errors
@_os_errors
def list_credentials(wallet: WalletPath = None) -> None:
    """List the credentials in the wallet."""
    path = _path(wallet)
    credentials = WalletFile.open(path, _passphrase(path)).load().list()
    if not credentials:
        typer.echo("the wallet is empty")
    for credential in credentials:
        expires = _date(credential.expires_at) if credential.expires_at else "-"
        typer.echo(
            f"{credential.id}  {_title(credential)}  received {_date(credential.received_at)}"
            f"  expires {expires}  {credential.issuer}"
        )


@wallet_app.command()
@clear_errors
@_os_errors
def show(
    credential_id: Annotated[str, typer.Argument(metavar="ID", help="Credential id or prefix.")],
    wallet: WalletPath = None,
    raw: Annotated[bool, typer.Option(help="Print the raw SD-JWT VC instead.")] = False,
) -> None:
    """Show one credential with its claims, labelled in zh-CN and en."""
    path = _path(wallet)
    credential = WalletFile.open(path, _passphrase(path)).load().get(credential_id)
    if raw:
        typer.echo(credential.raw)
        return
    for line in describe(credential):
        typer.echo(line)


def describe(credential: StoredCredential) -> list[str]:
    """The lines ``wallet show`` prints."""
    lines = [
        f"{_title(credential)}",
        f"  id:        {credential.id}",
        f"  issuer:    {credential.issuer}",
        f"  type:      {credential.vct}",
        f"  received:  {_date(credential.received_at)}",
    ]
    if credential.expires_at:
        lines.append(f"  expires:   {_date(credential.expires_at)}")
    if credential.status:
        ref = credential.status.get("status_list", {})
        lines.append(f"  status:    {ref.get('uri')} #{ref.get('idx')}")
    lines.append("  claims:")
    for claim_path, value in flatten(credential.claims):
        lines.append(f"    {_labels(credential, claim_path)}: {value}")
    return lines


def flatten(claims: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[Any, Any]]:
    """``(path, value)`` for every leaf claim, objects expanded, arrays kept whole."""
    for name, value in claims.items():
        path = (*prefix, name)
        if isinstance(value, Mapping):
            yield from flatten(value, path)
        else:
            yield path, value


def _labels(credential: StoredCredential, path: tuple[str, ...]) -> str:
    labels = [credential.display.label(path, locale) for locale in LOCALES]
    found = [label for label in dict.fromkeys(labels) if label]
    return " / ".join(found) if found else ".".join(path)


def _title(credential: StoredCredential) -> str:
    names = [credential.display.name(locale) for locale in LOCALES]
    found = [n for n in dict.fromkeys(names) if n]
    return " / ".join(found) if found else credential.configuration_id


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


from elicense.wallet import citizen_cli  # noqa: E402, F401  (mounts `refresh` and `history`)
