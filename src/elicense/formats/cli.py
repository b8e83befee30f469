"""``elicense verify FILE --trust TRUSTFILE [--nonce N --aud A]``.

Mounted by :mod:`elicense.cli` as ``app.command("verify")(verify)``. Verifies an
SD-JWT VC (issued form or presentation). Giving ``--nonce`` and ``--aud`` makes key
binding required and checked against them. Prints the verified claims and every check
as JSON and exits 0, or prints ``{"error": {"code": ..., "message": ...}}`` and exits 1;
it never prints a stack trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def verify(
    file: Annotated[Path, typer.Argument(help="File holding the SD-JWT VC (compact form).")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust list JSON file.")],
    nonce: Annotated[
        str | None, typer.Option("--nonce", help="Expected KB-JWT nonce (requires --aud).")
    ] = None,
    aud: Annotated[
        str | None, typer.Option("--aud", help="Expected KB-JWT audience (requires --nonce).")
    ] = None,
) -> None:
    """Verify an SD-JWT VC against a trust list; exit 0 only when it is valid."""
    try:
        document = _verify(file, trust, nonce, aud)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: report, never trace
        typer.echo(json.dumps(_error(exc), ensure_ascii=False, indent=2))
        raise typer.Exit(1) from None
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _verify(file: Path, trust_file: Path, nonce: str | None, aud: str | None) -> dict[str, Any]:
    from elicense.crypto.trust import TrustList
    from elicense.errors import ValidationFailed
    from elicense.formats import sd_jwt, sd_jwt_vc

    if (nonce is None) != (aud is None):
        raise ValidationFailed("--nonce and --aud go together", code="kb_options_incomplete")
    binding = None if nonce is None or aud is None else sd_jwt.KeyBindingPolicy(nonce, aud)
    trust = TrustList.load(trust_file)
    token = _read(file)
    policy = sd_jwt_vc.CredentialPolicy(key_binding=binding)
    verified = sd_jwt_vc.verify_credential(token, trust=trust, policy=policy)
    return {
        "valid": True,
        "iss": verified.issuer,
        "vct": verified.vct,
        "claims": verified.subject_claims(),
        "issued_at": verified.issued_at,
        "expires_at": verified.expires_at,
        "holder_jwk": verified.holder_jwk,
        "status": None if verified.status is None else verified.status.to_claim(),
        "key_binding": _binding(verified.key_binding, required=binding is not None),
        "checks": [{"check": name, "passed": True} for name in verified.checks],
    }


def _read(file: Path) -> str:
    from elicense.errors import TokenTooLarge, ValidationFailed

    try:
        with file.open("rb") as handle:
            data = handle.read(1024 * 1024 + 1)
    except OSError as exc:
        raise ValidationFailed(
            f"cannot read {file}: {exc.strerror}", code="file_unreadable"
        ) from exc
    if len(data) > 1024 * 1024:
        raise TokenTooLarge("the file is larger than 1 MiB")
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the file is not an ASCII token", code="sd_jwt_malformed") from exc


def _binding(binding: Any, *, required: bool) -> dict[str, Any] | None:
    if binding is None:
        return None
    return {
        "nonce": binding.nonce,
        "aud": binding.audience,
        "iat": binding.issued_at,
        "checked_against_request": required,
    }


def _error(exc: Exception) -> dict[str, Any]:
    from elicense.errors import ELicenseError

    if isinstance(exc, ELicenseError):
        return exc.to_json()
    return {"error": {"code": "internal_error", "message": type(exc).__name__}}
