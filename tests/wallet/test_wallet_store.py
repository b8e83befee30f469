"""The encrypted wallet file: round trip, wrong passphrase, damage, atomic replacement."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from elicense.crypto import base64url
from elicense.wallet.errors import (
    CredentialNotInWallet,
    WalletCorrupted,
    WalletNotFound,
    WrongPassphrase,
)
from elicense.wallet.store import (
    ClaimDisplay,
    CredentialDisplay,
    StoredCredential,
    Wallet,
    WalletFile,
    new_credential_id,
    open_wallet,
)

PASS = "correct horse battery staple"


def _credential(wallet: Wallet, name: str = "张伟") -> StoredCredential:
    key = wallet.new_holder_key()
    credential = StoredCredential(
        id=new_credential_id(),
        format="dc+sd-jwt",
        raw="eyJhbGciOiJFUzI1NiJ9.e30.sig~WyJzYWx0IiwibmFtZSIsIngiXQ~",
        issuer="https://issuer.example",
        vct="https://issuer.example/vct/marriage_license",
        configuration_id="marriage_license",
        holder_kid=key.kid,
        received_at=1_700_000_000,
        claims={"holder": {"name": name}},
        display=CredentialDisplay(
            {"zh-CN": "结婚证", "en": "Marriage License"},
            (ClaimDisplay(("holder", "name"), {"zh-CN": "姓名", "en": "Name"}),),
        ),
        expires_at=1_900_000_000,
        status={"status_list": {"idx": 7, "uri": "https://issuer.example/status/lists/1"}},
        notification_id="ntf_1",
    )
    wallet.add(credential)
    return credential


def test_round_trip_keeps_keys_and_credentials(tmp_path: Path) -> None:
    path = tmp_path / "w" / "wallet.json.enc"
    handle = WalletFile.open(path, PASS, create=True)
    wallet = handle.load()
    credential = _credential(wallet)
    handle.save(wallet)

    loaded = open_wallet(path, PASS)
    assert loaded.list() == [credential]
    again = loaded.get(credential.id[:10])
    assert again.display.label(("holder", "name"), "zh-CN") == "姓名"
    assert again.display.name("en-GB") == "Marriage License"
    signer = loaded.signer_for(again)
    assert signer.kid == credential.holder_kid
    assert path.stat().st_mode & 0o777 == 0o600
    assert "张伟".encode() not in path.read_bytes()
    assert b"pkcs8" not in path.read_bytes()


def test_wrong_passphrase_is_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json.enc"
    WalletFile.open(path, PASS, create=True).save(Wallet())
    with pytest.raises(WrongPassphrase):
        WalletFile.open(path, "not the passphrase")


def test_missing_wallet(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFound):
        WalletFile.open(tmp_path / "nope", PASS)
    assert WalletFile.open(tmp_path / "nope", PASS, create=True).load().list() == []


def _mutate(path: Path, member: str, value: object) -> None:
    envelope = json.loads(path.read_text())
    envelope[member] = value
    path.write_text(json.dumps(envelope))


def _flip_ciphertext(path: Path) -> None:
    envelope = json.loads(path.read_text())
    raw = bytearray(base64url.decode(envelope["ciphertext"]))
    raw[len(raw) // 2] ^= 1
    envelope["ciphertext"] = base64url.encode(bytes(raw))
    path.write_text(json.dumps(envelope))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b""), id="empty_file"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:100]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"\x00\xff" * 50), id="binary_garbage"),
        pytest.param(_flip_ciphertext, id="ciphertext_bit_flip"),
        pytest.param(lambda p: _mutate(p, "format", "other"), id="wrong_format"),
        pytest.param(lambda p: _mutate(p, "version", 99), id="future_version"),
        pytest.param(lambda p: _mutate(p, "nonce", "!!"), id="nonce_not_base64url"),
        pytest.param(lambda p: _mutate(p, "ciphertext", None), id="ciphertext_missing"),
    ],
)
def test_damaged_file_is_a_clear_error(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "wallet.json.enc"
    handle = WalletFile.open(path, PASS, create=True)
    wallet = handle.load()
    _credential(wallet)
    handle.save(wallet)
    damage(path)  # type: ignore[operator]
    with pytest.raises(WalletCorrupted):
        WalletFile.open(path, PASS).load()


def test_kdf_parameters_are_authenticated_and_capped(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json.enc"
    WalletFile.open(path, PASS, create=True).save(Wallet())
    envelope = json.loads(path.read_text())
    envelope["kdf"]["n"] = 2**30
    path.write_text(json.dumps(envelope))
    with pytest.raises(WalletCorrupted, match="out of range"):
        WalletFile.open(path, PASS)


def test_unknown_credential(tmp_path: Path) -> None:
    with pytest.raises(CredentialNotInWallet):
        Wallet().get("crd_missing")


def test_transaction_saves_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json.enc"
    handle = WalletFile.open(path, PASS, create=True)
    with handle.transaction() as wallet:
        _credential(wallet, "one")

    def fail_midway() -> None:
        with handle.transaction() as wallet:
            _credential(wallet, "two")
            raise RuntimeError("crash before save")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert [c.claims["holder"]["name"] for c in handle.load().list()] == ["one"]


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from elicense.wallet.store import WalletFile
    handle = WalletFile.open(sys.argv[1], sys.argv[2])
    wallet = handle.load()
    wallet.new_holder_key()
    real_fsync = os.fsync
    def die(fd):
        # the new wallet is fully written to the temporary file, not yet renamed
        os._exit(9)
    os.fsync = die
    handle.save(wallet)
    """
)


def test_crash_mid_write_leaves_the_old_wallet_intact(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json.enc"
    handle = WalletFile.open(path, PASS, create=True)
    wallet = handle.load()
    credential = _credential(wallet)
    handle.save(wallet)
    before = path.read_bytes()

    result = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path), PASS], check=False, timeout=60
    )
    assert result.returncode == 9
    assert path.read_bytes() == before
    assert open_wallet(path, PASS).list() == [credential]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the half-done temporary file, never the wallet itself
