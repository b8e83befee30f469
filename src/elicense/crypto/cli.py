"""``elicense keys``: issuer signing keys, the X.509 chain and the trust list.

Mounted by :mod:`elicense.cli` as ``app.add_typer(keys_app, name="keys")``. Heavy
modules are imported inside the commands so that ``elicense --help`` stays fast.
The store passphrase comes from ``ELICENSE_KEY_PASSPHRASE`` or an interactive prompt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from elicense.crypto.file_store import FileKeyStore

keys_app = typer.Typer(
    help="Issuer signing keys, certificate chain and trust list.", no_args_is_help=True
)

PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 (a variable name)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Key directory (default: $ELICENSE_DATA_DIR/keys).")
]
AlgOption = Annotated[str, typer.Option("--alg", help="ES256 (default) or EdDSA.")]


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


@keys_app.command("init")
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
    from elicense.errors import ELicenseError

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
def rotate_command(directory: DirOption = None, alg: AlgOption = "ES256") -> None:
    """Make a new current signing key (with its certificate); old keys keep verifying."""
    from elicense.crypto.issuing_ca import IssuingCA
    from elicense.errors import ELicenseError

    try:
        store = _open(directory)
        ca = IssuingCA.load(store)
        info = store.rotate(alg, certify=ca.chain_for if ca else None)
    except ELicenseError as exc:
        raise _fail(exc) from None
    _emit({"kid": info.kid, "alg": info.alg, "keys": [k.kid for k in store.list_keys()]})


@keys_app.command("jwks")
def jwks_command(directory: DirOption = None) -> None:
    """Print the JWK Set to publish (every key that is not retired)."""
    from elicense.crypto.keystore import jwks
    from elicense.errors import ELicenseError

    try:
        store = _open(directory)
        _emit(jwks(store))
    except ELicenseError as exc:
        raise _fail(exc) from None


@keys_app.command("export-trust")
def export_trust_command(
    iss: Annotated[str, typer.Option("--iss", help="Issuer URL the verifier will see.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trust list file to write.")],
    directory: DirOption = None,
) -> None:
    """Write a trust list naming this issuer's keys (and its CA as x5c anchor)."""
    from cryptography import x509

    from elicense.crypto.issuing_ca import CA_CERT
    from elicense.crypto.keystore import jwks
    from elicense.crypto.trust import single_issuer
    from elicense.errors import ELicenseError

    try:
        store = _open(directory)
        ca_path = store.directory / CA_CERT
        anchors = x509.load_pem_x509_certificates(ca_path.read_bytes()) if ca_path.exists() else []
        algs = sorted({k.alg for k in store.list_keys() if k.retired_at is None})
        trust = single_issuer(iss, jwks(store)["keys"], anchors, algs)
    except ELicenseError as exc:
        raise _fail(exc) from None
    output.write_text(json.dumps(trust.to_json(), indent=2) + "\n", encoding="utf-8")
    _emit({"written": str(output), "iss": iss, "keys": len(trust.issuers[iss].keys)})
