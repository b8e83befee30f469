"""``elicense wallet receive/list/show`` (the fake issuer stands in for the network)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fake_issuer import FakeIssuer
from typer.testing import CliRunner

from elicense.wallet import cli

PASS = "wallet pass 1"


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> FakeIssuer:
    fake = FakeIssuer()
    monkeypatch.setattr(cli, "new_client", lambda: fake.client())
    monkeypatch.setenv(cli.PASSPHRASE_ENV, PASS)
    return fake


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.wallet_app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_receive_list_show(issuer: FakeIssuer, tmp_path: Path) -> None:
    wallet = str(tmp_path / "w.enc")
    link = "openid-credential-offer://?credential_offer=" + quote(json.dumps(issuer.offer()))
    code, out, err = _run("receive", link, "--wallet", wallet)
    assert code == 0, err
    assert out.startswith("received crd_")
    assert "结婚证 / Marriage License" in out
    credential_id = out.split()[1]

    code, out, _ = _run("list", "--wallet", wallet)
    assert code == 0
    assert credential_id in out

    code, out, _ = _run("show", credential_id[:12], "--wallet", wallet)
    assert code == 0
    assert "姓名 / Name: 张伟" in out
    assert "certificate_no: J1" in out

    code, out, _ = _run("show", credential_id, "--wallet", wallet, "--raw")
    assert out.strip().count("~") >= 2


def test_errors_are_one_line_and_exit_1(issuer: FakeIssuer, tmp_path: Path) -> None:
    wallet = str(tmp_path / "w.enc")
    code, _, err = _run("list", "--wallet", wallet)
    assert code == 1
    assert err.startswith("error [wallet_not_found]")
    assert len(err.strip().splitlines()) == 1

    link = "openid-credential-offer://?credential_offer=" + quote(json.dumps(issuer.offer()))
    assert _run("receive", link, "--wallet", wallet)[0] == 0
    code, _, err = _run("list", "--wallet", wallet, env={cli.PASSPHRASE_ENV: "wrong"})
    assert code == 1
    assert err.startswith("error [wallet_wrong_passphrase]")

    code, _, err = _run("receive", link, "--wallet", wallet)  # the code was used
    assert code == 1
    assert err.startswith("error [invalid_grant]")
    assert "Traceback" not in err

    code, _, err = _run("receive", "bogus://offer", "--wallet", wallet)
    assert (code, err.split("]")[0]) == (1, "error [offer_malformed")

    code, _, err = _run("show", "crd_nope", "--wallet", wallet)
    assert err.startswith("error [credential_not_found]")


def test_issuer_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(
        cli, "new_client", lambda: httpx.Client(transport=httpx.MockTransport(down))
    )
    monkeypatch.setenv(cli.PASSPHRASE_ENV, PASS)
    link = "openid-credential-offer://?credential_offer_uri=" + quote("https://i.example/o/1")
    code, _, err = _run("receive", link, "--wallet", str(tmp_path / "w.enc"))
    assert code == 1
    assert err.startswith("error [issuer_unreachable]")
    assert not (tmp_path / "w.enc").exists()


def test_passphrase_prompt_when_no_environment(
    issuer: FakeIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.PASSPHRASE_ENV)
    wallet = str(tmp_path / "w.enc")
    link = "openid-credential-offer://?credential_offer=" + quote(json.dumps(issuer.offer()))
    result = CliRunner().invoke(
        cli.wallet_app, ["receive", link, "--wallet", wallet], input="pw\npw\n"
    )
    assert result.exit_code == 0, result.stderr
    result = CliRunner().invoke(cli.wallet_app, ["list", "--wallet", wallet], input="pw\n")
    assert result.exit_code == 0
    assert "crd_" in result.stdout
