"""``elicense keys``: issuer signing keys, the X.509 chain and the trust list.

Mounted by :mod:`elicense.cli` as ``app.add_typer(keys_app, name="keys")``. Heavy
modules are imported inside the commands so that ``elicense --help`` stays fast.

Which keys a command works on:

- ``--dir DIR``: the file store in ``DIR`` (whatever ``ELICENSE_ISSUER_KEYSTORE`` says);
  its passphrase comes from ``ELICENSE_KEY_PASSPHRASE`` or an interactive prompt.
- ``--authority NAME`` (``rotate``, ``jwks``, ``export-trust``), ``--all-authorities``
  (``jwks``, ``export-trust``): the server's store of that authority (its catalogue id or
  ``authority.signing_key``), or of every authority, in the store
  ``ELICENSE_ISSUER_KEYSTORE`` names, opened as the server opens it
  (:func:`~elicense.issuance.keys.open_issuer_keys`: files under
  ``$ELICENSE_DATA_DIR/keys/<name>`` with the server's passphrase, or the HSM, logged in
  to first, so that a bad module, token or PIN is one line and exit code 2).
- neither: the file store in ``$ELICENSE_DATA_DIR/keys`` as before; with
  ``ELICENSE_ISSUER_KEYSTORE=pkcs11`` an authority must be named (exit code 2).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from elicense.console import clear_errors

if TYPE_CHECKING:
    from cryptography import x509

    from elicense.config import Settings
    from elicense.crypto.file_store import FileKeyStore
    from elicense.issuance.keys import IssuerKeys

keys_app = typer.Typer(
    help="Issuer signing keys, certificate chain and trust list.", no_args_is_help=True
)

PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 (a variable name)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Key directory (default: $ELICENSE_DATA_DIR/keys).")
]
AlgOption = Annotated[str, typer.Option("--alg", help="ES256 (default) or EdDSA.")]
AuthorityOption = Annotated[
    str | None,
    typer.Option(
        "--authority",
        help="An issuing authority's keys as the server keeps them, in the configured key "
        "store (ELICENSE_ISSUER_KEYSTORE): its catalogue id or signing_key, e.g. "
        "civil_affairs.",
    ),
]
AllOption = Annotated[
    bool,
    typer.Option("--all-authorities", help="Every authority in the catalogue (as --authority)."),
]


def _directory(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    from elicense.config import load_settings

    return load_settings().keys_dir


def _passphrase(*, confirm: bool) -> bytes:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None:
        value = typer.prompt("Key store passphrase", hide_input=True, confirmation_prompt=confirm)
    return value.encode("utf-8")


def _emit(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _fail(exc: Exception) -> typer.Exit:
    from elicense.errors import ELicenseError

    if isinstance(exc, ELicenseError):
        typer.echo(json.dumps(exc.to_json(), ensure_ascii=False), err=True)
    else:
        typer.echo(json.dumps({"error": {"code": "error", "message": str(exc)}}), err=True)
    return typer.Exit(1)


def _open(directory: Path | None) -> FileKeyStore:
    from elicense.crypto.file_store import FileKeyStore

    return FileKeyStore(_directory(directory), _passphrase(confirm=False))


def _selected(
    directory: Path | None, authority: str | None, every: bool
) -> tuple[Settings, tuple[str, ...]] | None:
    """The settings and key names of the authorities a command works on; ``None`` for
    the file store at ``--dir`` (or the default directory). A bad selection is a
    :class:`~elicense.errors.ConfigError` (one line, exit 2)."""
    from elicense.catalog.loader import load_catalog
    from elicense.config import load_settings
    from elicense.errors import ConfigError
    from elicense.issuance.keys import authority_key_name, catalog_key_names

    if directory is not None and (authority is not None or every):
        raise ConfigError("give --dir (a file key store) or an authority, not both")
    if authority is not None and every:
        raise ConfigError("give --authority or --all-authorities, not both")
    if directory is not None:
        return None
    settings = load_settings()
    if authority is None and not every:
        if settings.issuer_keystore == "file":
            return None
        raise ConfigError(
            f"ELICENSE_ISSUER_KEYSTORE={settings.issuer_keystore} keeps a store per "
            "authority: name one with --authority (or --all-authorities)"
        )
    catalog = load_catalog(base_url=settings.public_base_url)
    if every:
        return settings, catalog_key_names(catalog)
    return settings, (authority_key_name(catalog, str(authority)),)


@contextlib.contextmanager
def _server_keys(
    directory: Path | None, authority: str | None, every: bool = False
) -> Iterator[IssuerKeys | None]:
    """The selected authorities' keys, opened as the server opens them (an HSM is
    logged in to now: a bad module, token or PIN is a ``ConfigError``) and released
    afterwards; ``None`` for a file store named by directory."""
    from elicense.issuance.keys import open_issuer_keys

    selected = _selected(directory, authority, every)
    if selected is None:
        yield None
        return
    keys = open_issuer_keys(*selected)
    try:
        yield keys
    finally:
        keys.close()


@keys_app.command("init")
@clear_errors
def init_command(
    directory: DirOption = None,
    iss: Annotated[
        str | None, typer.Option("--iss", help="Issuer URL (default: public base URL).")
    ] = None,
    organization: Annotated[str, typer.Option(help="Organization in certificates.")] = "eLicense",
    alg: AlgOption = "ES256",
) -> None:
    """Create a key store with a signing key, an issuing CA and a document-signer cert."""
    from elicense.config import load_settings
    from elicense.crypto.file_store import FileKeyStore
    from elicense.crypto.issuing_ca import CA_CERT, IssuingCA
    from elicense.errors import ConfigError, ELicenseError

    keystore = load_settings().issuer_keystore if directory is None else "file"
    if keystore != "file":
        raise ConfigError(
            f"ELICENSE_ISSUER_KEYSTORE={keystore}: the server makes each authority's keys "
            "in its store on first use; give --dir for a file store"
        )
    target = _directory(directory)
    issuer = iss or load_settings().public_base_url
    try:
        ca = IssuingCA.create(
            f"{organization} Issuing CA", issuer_url=issuer, organization=organization
        )
        store = FileKeyStore.init(target, _passphrase(confirm=True), alg=alg, certify=ca.chain_for)
        ca.save(store)
        kid = store.current_signer().kid
    except ELicenseError as exc:
        raise _fail(exc) from None
    _emit({"directory": str(target), "iss": issuer, "kid": kid, "ca": str(target / CA_CERT)})


@keys_app.command("rotate")
@clear_errors
def rotate_command(
    directory: DirOption = None, authority: AuthorityOption = None, alg: AlgOption = "ES256"
) -> None:
    """Make a new current signing key (with its certificate); old keys keep verifying.

    With an authority, running servers sign with the new key once this returns (an
    HSM is re-checked once a second, so the command waits that second out)."""
    from elicense.errors import ELicenseError

    with _server_keys(directory, authority) as keys:
        try:
            report = _rotate_authority(keys, alg) if keys else _rotate_store(directory, alg)
        except ELicenseError as exc:
            raise _fail(exc) from None
    _emit(report)


def _rotate_store(directory: Path | None, alg: str) -> dict[str, Any]:
    from elicense.crypto.issuing_ca import rotate_certified

    store = _open(directory)
    info = rotate_certified(store, alg)
    return {"kid": info.kid, "alg": info.alg, "keys": [k.kid for k in store.list_keys()]}


def _rotate_authority(keys: IssuerKeys, alg: str) -> dict[str, Any]:
    (name,) = keys.key_names
    info = keys.rotate(name, alg)
    kids = [k.kid for k in keys.store(name).list_keys()]
    time.sleep(keys.backend.recheck_seconds)  # until every server has looked again
    return {"authority": name, "kid": info.kid, "alg": info.alg, "keys": kids}


@keys_app.command("jwks")
@clear_errors
def jwks_command(
    directory: DirOption = None, authority: AuthorityOption = None, every: AllOption = False
) -> None:
    """Print the JWK Set to publish (every key that is not retired)."""
    from elicense.errors import ELicenseError

    with _server_keys(directory, authority, every) as keys:
        try:
            _emit(_published(directory, keys)[0])
        except ELicenseError as exc:
            raise _fail(exc) from None


def _published(
    directory: Path | None, keys: IssuerKeys | None
) -> tuple[dict[str, list[dict[str, Any]]], list[x509.Certificate]]:
    """The JWK Set to publish and the issuing-CA certificates: of the selected
    authorities, or of the file store at ``directory``."""
    from elicense.crypto.issuing_ca import ca_anchors
    from elicense.crypto.keystore import jwks

    if keys is not None:
        return keys.jwks(), keys.anchors()
    store = _open(directory)
    return jwks(store), ca_anchors(store.directory)


@keys_app.command("export-trust")
@clear_errors
def export_trust_command(
    iss: Annotated[str, typer.Option("--iss", help="Issuer URL the verifier will see.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trust list file to write.")],
    directory: DirOption = None,
    authority: AuthorityOption = None,
    every: AllOption = False,
) -> None:
    """Write a trust list naming this issuer's keys (and its CAs as x5c anchors)."""
    from elicense.crypto.trust import single_issuer
    from elicense.errors import ELicenseError

    with _server_keys(directory, authority, every) as keys:
        try:
            published, anchors = _published(directory, keys)
            algs = sorted({k["alg"] for k in published["keys"]})
            trust = single_issuer(iss, published["keys"], anchors, algs)
        except ELicenseError as exc:
            raise _fail(exc) from None
    output.write_text(json.dumps(trust.to_json(), indent=2) + "\n", encoding="utf-8")
    _emit({"written": str(output), "iss": iss, "keys": len(trust.issuers[iss].keys)})
