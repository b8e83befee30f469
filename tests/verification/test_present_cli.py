"""``elicense wallet present``: consent, refusal and the deep-link form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from verification_support import MARRIAGE, Env, create, result

from elicense.errors import AccessDenied
from elicense.verification import service
from elicense.wallet import present_cli
from elicense.wallet.openid4vp import Held, anchor_pem


class _Contents:
    def __init__(self, held: Held) -> None:
        self.held = held

    def list(self) -> list[Held]:
        return [self.held]

    def signer_for(self, credential: Held) -> Any:
        return credential.signer


class _File:
    contents: _Contents

    @classmethod
    def open(cls, _path: Path, _passphrase: str) -> _File:
        return cls()

    def load(self) -> _Contents:
        return self.contents


@pytest.fixture
def wired(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    anchor = tmp_path / "rp_ca.pem"
    anchor.write_text(anchor_pem(env.ctx.ca.certificate))
    monkeypatch.setenv(present_cli.RP_CA_ENV, str(anchor))
    monkeypatch.setenv(present_cli.PASSPHRASE_ENV, "x")
    _File.contents = _Contents(env.credential("marriage_license", MARRIAGE))
    monkeypatch.setattr(present_cli, "WalletFile", _File)
    monkeypatch.setattr(present_cli, "new_client", env.http)
    return env


def test_present_with_yes_uses_the_deep_link(
    wired: Env, bank: service.Registered, capsys: pytest.CaptureFixture[str]
) -> None:
    created = create(wired, bank)
    present_cli.present(created["deep_link"], yes=True, wallet=Path("w"))
    out = capsys.readouterr().out
    assert "Bank of Nanshan" in out
    assert "spouse.id_number" in out
    assert result(wired, bank, created).json()["outcome"] == "verified"


def test_present_declined(
    wired: Env, bank: service.Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create(wired, bank)
    monkeypatch.setattr("typer.confirm", lambda *_a, **_k: False)
    with pytest.raises(AccessDenied):
        present_cli.present(created["request_uri"], yes=False, wallet=Path("w"))
    assert result(wired, bank, created).status_code == 202
