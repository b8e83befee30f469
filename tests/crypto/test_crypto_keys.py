"""File key store, rotation, JWKS, X.509 chain, trust list and the ``keys`` CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from elicense import clock
from elicense.crypto import jws
from elicense.crypto import x509 as chain
from elicense.crypto.cli import keys_app
from elicense.crypto.file_store import FileKeyStore, generate_private_key
from elicense.crypto.jwk import load_public_jwk, thumbprint
from elicense.crypto.keystore import LocalSigner, jwks
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import (
    ConfigError,
    Conflict,
    CryptoError,
    KeyNotFound,
    UntrustedIssuer,
)

PASS = b"correct horse battery"
ISS = "https://civil-affairs.example.gov.cn"


def _verify_with(store: FileKeyStore, token: str, kid: str) -> None:
    key = load_public_jwk(next(k.public_jwk for k in store.list_keys() if k.kid == kid))
    jws.verify(jws.decode_compact(token), key, allowed_algs=frozenset({"ES256", "EdDSA"}))


def test_init_writes_encrypted_private_keys_readable_by_owner_only(tmp_path: Path) -> None:
    store = FileKeyStore.init(tmp_path / "keys", PASS)
    signer = store.current_signer()
    pem = (tmp_path / "keys" / f"{signer.kid}.key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert stat.S_IMODE((tmp_path / "keys" / f"{signer.kid}.key.pem").stat().st_mode) == 0o600
    assert signer.kid == thumbprint(signer.public_jwk)
    with pytest.raises(Conflict):
        FileKeyStore.init(tmp_path / "keys", PASS)


def test_wrong_passphrase_and_short_passphrase_are_refused(tmp_path: Path) -> None:
    FileKeyStore.init(tmp_path, PASS)
    with pytest.raises(CryptoError) as caught:
        FileKeyStore(tmp_path, b"wrong passphrase").current_signer()
    assert caught.value.instance_code == "key_decrypt_failed"
    with pytest.raises(ConfigError):
        FileKeyStore(tmp_path, b"short")


def test_rotation_keeps_old_keys_verifying_and_signs_with_the_new(tmp_path: Path) -> None:
    store = FileKeyStore.init(tmp_path, PASS)
    old = store.current_signer()
    old_token = jws.sign_compact({}, b"{}", old)
    with clock.shifted(10):
        new_info = store.rotate()
    new = store.current_signer()
    assert new.kid == new_info.kid != old.kid
    assert jws.decode_compact(jws.sign_compact({}, b"{}", new)).header["kid"] == new.kid
    reopened = FileKeyStore(tmp_path, PASS)
    _verify_with(reopened, old_token, old.kid)
    assert [k["kid"] for k in jwks(reopened)["keys"]] == [new.kid, old.kid]
    reopened.retire(old.kid)
    assert [k["kid"] for k in jwks(reopened)["keys"]] == [new.kid]
    with pytest.raises(Conflict):
        reopened.retire(new.kid)
    with pytest.raises(KeyNotFound):
        reopened.signer("nope")


def test_eddsa_keys_can_be_stored(tmp_path: Path) -> None:
    store = FileKeyStore.init(tmp_path, PASS, alg="EdDSA")
    signer = store.current_signer()
    assert signer.alg == "EdDSA"
    _verify_with(store, jws.sign_compact({}, b"{}", signer), signer.kid)


def test_missing_store_is_key_not_found(tmp_path: Path) -> None:
    with pytest.raises(KeyNotFound) as caught:
        FileKeyStore(tmp_path, PASS).current_signer()
    assert caught.value.instance_code == "keystore_missing"


def _chain() -> tuple[LocalSigner, x509.Certificate]:
    ca_key, ca_cert = chain.create_issuing_ca("Test CA")
    key = generate_private_key()
    leaf = chain.issue_document_signer(ca_key, ca_cert, key.public_key(), issuer_url=ISS)
    return LocalSigner(key, x5c=chain.to_x5c([leaf, ca_cert])), ca_cert


def test_document_signer_chain_verifies_to_its_anchor_and_names_the_issuer() -> None:
    signer, ca_cert = _chain()
    key = chain.verify_x5c(list(signer.x5c), [ca_cert], issuer=ISS)
    assert load_public_jwk(signer.public_jwk).public_numbers() == key.public_numbers()  # type: ignore[union-attr]
    with pytest.raises(UntrustedIssuer) as wrong:
        chain.verify_x5c(list(signer.x5c), [ca_cert], issuer="https://other.example")
    assert wrong.value.instance_code == "x5c_wrong_issuer"
    _, other_ca = chain.create_issuing_ca("Other CA")
    with pytest.raises(UntrustedIssuer) as untrusted:
        chain.verify_x5c(list(signer.x5c), [other_ca], issuer=ISS)
    assert untrusted.value.instance_code == "x5c_not_trusted"
    with clock.shifted(4 * 365 * 86400), pytest.raises(UntrustedIssuer):
        chain.verify_x5c(list(signer.x5c), [ca_cert], issuer=ISS)
    for bad in ("not a list", [], [1], ["!!!"]):
        with pytest.raises(UntrustedIssuer):
            chain.verify_x5c(bad, [ca_cert], issuer=ISS)


def test_trust_list_resolves_by_kid_x5c_and_refuses_self_asserted_keys() -> None:
    signer, ca_cert = _chain()
    other = LocalSigner(generate_private_key())
    trust = single_issuer(
        ISS, [{**signer.public_jwk, "kid": signer.kid}, other.public_jwk], [ca_cert]
    )
    assert TrustList.from_json(json.loads(json.dumps(trust.to_json()))).to_json() == trust.to_json()
    payload = {"iss": ISS}
    assert trust.resolve({"kid": signer.kid}, payload).issuer == ISS
    assert trust.resolve({"x5c": list(signer.x5c)}, payload).issuer == ISS
    cases = [
        ({"kid": "unknown"}, payload, "unknown_kid"),
        ({}, payload, "kid_required"),
        ({"kid": signer.kid, "jwk": other.public_jwk}, payload, "header_key_not_trusted"),
        ({"kid": signer.kid, "jku": "https://x"}, payload, "header_key_not_trusted"),
        ({"kid": signer.kid, "x5u": "https://x"}, payload, "header_key_not_trusted"),
        ({"kid": signer.kid}, {"iss": "https://evil.example"}, "untrusted_issuer"),
        ({"kid": signer.kid}, {}, "untrusted_issuer"),
    ]
    for header, body, code in cases:
        with pytest.raises((UntrustedIssuer, KeyNotFound)) as caught:
            trust.resolve(header, body)
        assert caught.value.instance_code == code


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"issuers": "x"},
        {"issuers": [{"jwks": {"keys": []}}]},
        {"issuers": [{"iss": "a", "jwks": {"keys": [{"kty": "EC", "d": "x"}]}}]},
        {"issuers": [{"iss": "a", "algs": ["none"]}]},
        {"issuers": [{"iss": "a"}, {"iss": "a"}]},
        {"issuers": [{"iss": "a", "x5c_anchors": ["not-base64!"]}]},
    ],
)
def test_bad_trust_lists_are_config_errors(document: object) -> None:
    with pytest.raises(ConfigError):
        TrustList.from_json(document)


def test_keys_cli_init_rotate_jwks_export_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICENSE_KEY_PASSPHRASE", PASS.decode())
    runner = CliRunner()
    keys = tmp_path / "keys"
    first = runner.invoke(keys_app, ["init", "--dir", str(keys), "--iss", ISS])
    assert first.exit_code == 0, first.output
    kid1 = json.loads(first.output)["kid"]
    again = runner.invoke(keys_app, ["init", "--dir", str(keys), "--iss", ISS])
    assert again.exit_code == 1
    assert "keystore_exists" in again.output
    rotated = runner.invoke(keys_app, ["rotate", "--dir", str(keys)])
    assert rotated.exit_code == 0, rotated.output
    kid2 = json.loads(rotated.output)["kid"]
    published = json.loads(runner.invoke(keys_app, ["jwks", "--dir", str(keys)]).output)
    assert {k["kid"] for k in published["keys"]} == {kid1, kid2}
    out = tmp_path / "trust.json"
    exported = runner.invoke(
        keys_app, ["export-trust", "--iss", ISS, "-o", str(out), "--dir", str(keys)]
    )
    assert exported.exit_code == 0, exported.output
    trust = TrustList.load(out)
    store = FileKeyStore(keys, PASS)
    signer = store.current_signer()
    assert signer.x5c, "rotation issues a document-signer certificate"
    assert trust.resolve({"x5c": list(signer.x5c)}, {"iss": ISS}).issuer == ISS
    assert trust.resolve({"kid": kid1}, {"iss": ISS}).issuer == ISS


def test_keys_cli_reports_wrong_passphrase_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICENSE_KEY_PASSPHRASE", PASS.decode())
    runner = CliRunner()
    assert runner.invoke(keys_app, ["init", "--dir", str(tmp_path), "--iss", ISS]).exit_code == 0
    monkeypatch.setenv("ELICENSE_KEY_PASSPHRASE", "a wrong passphrase")
    result = runner.invoke(keys_app, ["rotate", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        json.loads(result.output.strip().splitlines()[-1])["error"]["code"] == "key_decrypt_failed"
    )
