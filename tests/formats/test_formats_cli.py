"""``elicense verify`` on a tiny Typer app: JSON out, exit codes, no stack traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from elicense import clock
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList
from elicense.formats import sd_jwt, sd_jwt_vc
from elicense.formats.cli import verify

ISSUER = "https://civil-affairs.example.gov.cn"
app = typer.Typer()
app.command("verify")(verify)
app.command("noop")(lambda: None)  # keep "verify" a subcommand, as in elicense.cli


@pytest.fixture
def files(
    tmp_path: Path,
    issuer_signer: LocalSigner,
    holder_signer: LocalSigner,
    trust: TrustList,
    license_claims: dict[str, Any],
) -> dict[str, Path]:
    issued = sd_jwt_vc.issue_credential(
        signer=issuer_signer,
        issuer=ISSUER,
        vct="https://credentials.example.gov.cn/marriage_license",
        claims=license_claims,
        selectively_disclosable=[(k,) for k in license_claims if k != "license_number"],
        holder_jwk=holder_signer.public_jwk,
        expires_at=clock.epoch() + 3600,
        status=sd_jwt_vc.StatusReference("https://status.example.gov.cn/1", 9),
    ).serialize()
    request = sd_jwt.KeyBindingRequest(holder_signer, nonce="n-42", audience="https://bank.example")
    presentation = sd_jwt.present(issued, [("given_name",)], key_binding=request)
    paths = {"issued": tmp_path / "issued.txt", "presented": tmp_path / "presented.txt"}
    paths["issued"].write_text(issued + "\n")
    paths["presented"].write_text(presentation)
    paths["trust"] = tmp_path / "trust.json"
    paths["trust"].write_text(json.dumps(trust.to_json()))
    return paths


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["verify", *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def test_valid_presentation_prints_claims_and_checks(files: dict[str, Path]) -> None:
    code, out = _run(
        str(files["presented"]), "--trust", str(files["trust"]),
        "--nonce", "n-42", "--aud", "https://bank.example",
    )  # fmt: skip
    assert code == 0
    assert out["valid"] is True
    assert out["claims"] == {"license_number": "ML-2025-000123", "given_name": "李"}
    assert out["status"] == {"status_list": {"idx": 9, "uri": "https://status.example.gov.cn/1"}}
    assert out["key_binding"]["checked_against_request"] is True
    assert {c["check"] for c in out["checks"]} >= {"issuer_signature", "key_binding", "vc_rules"}


def test_issued_credential_verifies_without_key_binding(files: dict[str, Path]) -> None:
    code, out = _run(str(files["issued"]), "--trust", str(files["trust"]))
    assert code == 0
    assert out["key_binding"] is None


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--nonce", "other", "--aud", "https://bank.example"], "kb_jwt_wrong_nonce"),
        (["--nonce", "n-42"], "kb_options_incomplete"),
    ],
)
def test_wrong_request_fails_with_error_json(
    files: dict[str, Path], args: list[str], code: str
) -> None:
    exit_code, out = _run(str(files["presented"]), "--trust", str(files["trust"]), *args)
    assert exit_code == 1
    assert out["error"]["code"] == code


def test_key_binding_required_but_missing(files: dict[str, Path]) -> None:
    exit_code, out = _run(
        str(files["issued"]), "--trust", str(files["trust"]), "--nonce", "n", "--aud", "a"
    )
    assert exit_code == 1
    assert out["error"]["code"] == "kb_jwt_missing"


def test_unreadable_inputs_are_reported(files: dict[str, Path], tmp_path: Path) -> None:
    exit_code, out = _run(str(tmp_path / "missing.txt"), "--trust", str(files["trust"]))
    assert (exit_code, out["error"]["code"]) == (1, "file_unreadable")
    bad_trust = tmp_path / "bad.json"
    bad_trust.write_text("{not json")
    exit_code, out = _run(str(files["issued"]), "--trust", str(bad_trust))
    assert (exit_code, out["error"]["code"]) == (1, "config_invalid")
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"\xff\xfe garbage")
    exit_code, out = _run(str(garbage), "--trust", str(files["trust"]))
    assert (exit_code, out["error"]["code"]) == (1, "sd_jwt_malformed")
