"""Issuer keys in a PKCS#11 token (SoftHSM2 made at test time): provisioning, x5c,
rotation seen by the cache, label prefixes, and clear errors for a bad token or PIN."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from pkcs11 import Attribute, ObjectClass

from elicense import clock
from elicense.config import load_settings
from elicense.crypto import algorithms, jws
from elicense.crypto import x509 as chain
from elicense.crypto.jwk import load_public_jwk, public_jwk
from elicense.crypto.keystore import Signer
from elicense.crypto.pkcs11_store import Pkcs11KeyStore, Pkcs11Session
from elicense.errors import ConfigError
from elicense.issuance.key_stores import Pkcs11Backend
from elicense.issuance.keys import IssuerKeys, open_issuer_keys
from softhsm_support import Token, requires_softhsm, softhsm_token

pytestmark = requires_softhsm
ISS = "https://issuer.example.gov.cn"
NAMES = ("civil_affairs", "public_security")


@pytest.fixture
def token(tmp_path: Path) -> Iterator[Token]:
    with softhsm_token(tmp_path / "hsm") as made:
        yield made


@pytest.fixture
def keys(token: Token, tmp_path: Path) -> Iterator[IssuerKeys]:
    settings = load_settings(
        token.env(ELICENSE_DATA_DIR=str(tmp_path / "data"), ELICENSE_PUBLIC_BASE_URL=ISS)
    )
    issuer_keys = open_issuer_keys(settings, NAMES)
    issuer_keys.provision()
    yield issuer_keys
    issuer_keys.close()


def _backend(keys: IssuerKeys) -> Pkcs11Backend:
    assert isinstance(keys.backend, Pkcs11Backend)
    return keys.backend


def _ca_certificate(keys: IssuerKeys, name: str) -> x509.Certificate:
    return _backend(keys).issuing_ca(name).cert


def _assert_certified(signer: Signer, keys: IssuerKeys, name: str) -> None:
    anchor = _ca_certificate(keys, name)
    leaf_key = chain.verify_x5c(list(signer.x5c), [anchor], issuer=ISS)
    assert public_jwk(leaf_key) == signer.public_jwk


def _private_keys(session: Pkcs11Session) -> dict[str, object]:
    objects = session.raw.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    return {str(o[Attribute.LABEL]): o for o in objects}


def test_provisioning_makes_sensitive_keys_and_ca_in_the_token(keys: IssuerKeys) -> None:
    session = _backend(keys).session
    labels = _private_keys(session)
    for name in NAMES:
        for prefix in (name, f"{name}-ca"):
            (key,) = [o for label, o in labels.items() if label.split(":")[0] == prefix]
            assert isinstance(key, pkcs11.PrivateKey)
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            with pytest.raises(pkcs11.PKCS11Error):
                key[Attribute.VALUE]
        signer = keys.signer_for(name)
        _assert_certified(signer, keys, name)
        token = jws.sign_compact({"typ": "test"}, b"{}", signer)
        jws.verify(
            jws.decode_compact(token),
            load_public_jwk(signer.public_jwk),
            allowed_algs=frozenset({"ES256"}),
        )
    published = keys.jwks()["keys"]
    assert [k["kid"] for k in published] == [keys.signer_for(n).kid for n in NAMES]
    assert all("d" not in k for k in published)


def test_provisioning_again_reuses_the_keys_on_the_token(
    keys: IssuerKeys, token: Token, tmp_path: Path
) -> None:
    before = {n: keys.signer_for(n).kid for n in NAMES}
    ca_before = _ca_certificate(keys, NAMES[0])
    settings = load_settings(token.env(ELICENSE_DATA_DIR=str(tmp_path / "other")))
    again = open_issuer_keys(settings, NAMES)
    try:
        again.provision()
        assert {n: again.signer_for(n).kid for n in NAMES} == before
        assert _ca_certificate(again, NAMES[0]) == ca_before
        assert len(_private_keys(_backend(keys).session)) == 2 * len(NAMES)
    finally:
        again.close()


def _reader(keys: IssuerKeys, recheck_seconds: float) -> tuple[IssuerKeys, Pkcs11KeyStore]:
    """Another IssuerKeys on the same token (checking every ``recheck_seconds``) and a
    second store object on the first authority's keys, as another process has them."""
    session = _backend(keys).session
    backend = Pkcs11Backend(session, keys.keys_dir, ISS, recheck_seconds=recheck_seconds)
    reader = IssuerKeys(keys.keys_dir, NAMES, issuer_url=ISS, backend=backend)
    return reader, Pkcs11KeyStore.on(session, prefix=NAMES[0])


def test_rotation_on_the_token_is_used_after_the_recheck_interval(keys: IssuerKeys) -> None:
    backend = _backend(keys)
    slow, other = _reader(keys, 60)
    quick, _ = _reader(keys, 0.3)
    old = slow.signer_for(NAMES[0])
    assert quick.signer_for(NAMES[0]).kid == old.kid
    with clock.shifted(5):
        info = other.rotate(certify=backend.issuing_ca(NAMES[0]).chain_for)
    assert slow.signer_for(NAMES[0]).kid == old.kid  # within its interval: cached
    time.sleep(0.35)
    new = quick.signer_for(NAMES[0])
    assert new.kid == info.kid
    _assert_certified(new, keys, NAMES[0])
    assert {old.kid, info.kid} <= {k["kid"] for k in quick.jwks()["keys"]}
    other.retire(old.kid)
    time.sleep(0.35)
    assert old.kid not in {k["kid"] for k in quick.jwks()["keys"]}


def test_a_new_key_is_not_current_until_it_is_certified(keys: IssuerKeys) -> None:
    reader, store = _reader(keys, 0)
    old = reader.signer_for(NAMES[0])
    ca = _backend(keys).issuing_ca(NAMES[0])
    seen: list[tuple[str, int]] = []

    def certify(public_key: algorithms.PublicKey) -> list[x509.Certificate]:
        seen.append((reader.signer_for(NAMES[0]).kid, len(store.list_keys())))
        return ca.chain_for(public_key)

    with clock.shifted(5):
        info = store.rotate(certify=certify)
    assert seen == [(old.kid, 1)]  # the pending key is neither current nor listed
    assert reader.signer_for(NAMES[0]).kid == info.kid
    _assert_certified(reader.signer_for(NAMES[0]), keys, NAMES[0])


def test_labels_are_matched_exactly(keys: IssuerKeys) -> None:
    session = _backend(keys).session
    assert Pkcs11KeyStore.on(session, prefix="civil").list_keys() == []
    assert Pkcs11KeyStore.on(session, prefix="civil_affairs_x").list_keys() == []
    ca_kids = {k.kid for k in Pkcs11KeyStore.on(session, prefix="civil_affairs-ca").list_keys()}
    assert len(ca_kids) == 1
    assert not ca_kids & {k["kid"] for k in keys.jwks()["keys"]}  # the CA key is not published


def test_a_second_login_in_the_process_shares_the_session_and_checks_the_pin(
    keys: IssuerKeys, token: Token
) -> None:
    from softhsm_support import LIBRARY

    assert LIBRARY is not None
    shared = Pkcs11KeyStore(LIBRARY, token.label, token.pin, prefix=NAMES[0])
    assert shared.current_signer().kid == keys.signer_for(NAMES[0]).kid
    shared.close()
    assert keys.signer_for(NAMES[0]).sign(b"still logged in")  # closing one user kept it
    with pytest.raises(Exception, match="differs from the one this process logged in with"):
        Pkcs11KeyStore(LIBRARY, token.label, "000000", prefix=NAMES[0])


def test_wrong_pin_and_missing_token_name_the_setting(token: Token, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("000000\n")
    data = str(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"^ELICENSE_PKCS11_PIN_FILE: .*refused the PIN"):
        open_issuer_keys(
            load_settings(token.env(ELICENSE_DATA_DIR=data, ELICENSE_PKCS11_PIN_FILE=str(wrong))),
            NAMES,
        )
    with pytest.raises(ConfigError, match=r"^ELICENSE_PKCS11_TOKEN_LABEL: no single HSM token"):
        open_issuer_keys(
            load_settings(token.env(ELICENSE_DATA_DIR=data, ELICENSE_PKCS11_TOKEN_LABEL="nope")),
            NAMES,
        )
    not_a_module = tmp_path / "not-a-module.so"
    not_a_module.write_bytes(b"\x00" * 16)
    with pytest.raises(ConfigError, match=r"^ELICENSE_PKCS11_MODULE: cannot load"):
        open_issuer_keys(
            load_settings(
                token.env(ELICENSE_DATA_DIR=data, ELICENSE_PKCS11_MODULE=str(not_a_module))
            ),
            NAMES,
        )


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"ELICENSE_PKCS11_PIN_FILE": "wrong"}, "ELICENSE_PKCS11_PIN_FILE"),
        ({"ELICENSE_PKCS11_TOKEN_LABEL": "no-such-token"}, "ELICENSE_PKCS11_TOKEN_LABEL"),
    ],
)
def test_serve_stops_with_one_line_for_a_bad_pin_or_token(
    token: Token, tmp_path: Path, override: dict[str, str], setting: str
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("000000\n")
    values = {k: str(wrong) if v == "wrong" else v for k, v in override.items()}
    env = {**os.environ, **token.env(ELICENSE_DATA_DIR=str(tmp_path / "data"), **values)}
    command = [sys.executable, "-c", "from elicense.cli import main; main()", "serve"]
    result = subprocess.run(
        [*command, "--port", "1"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {setting}: ")
    assert token.pin not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"ELICENSE_ISSUER_KEYSTORE": "vault"}, "ELICENSE_ISSUER_KEYSTORE"),
        ({"ELICENSE_PKCS11_MODULE": ""}, "ELICENSE_PKCS11_MODULE"),
        ({"ELICENSE_PKCS11_MODULE": "/nonexistent/libp11.so"}, "ELICENSE_PKCS11_MODULE"),
        ({"ELICENSE_PKCS11_TOKEN_LABEL": ""}, "ELICENSE_PKCS11_TOKEN_LABEL"),
        ({"ELICENSE_PKCS11_TOKEN_LABEL": "x" * 33}, "ELICENSE_PKCS11_TOKEN_LABEL"),
        ({"ELICENSE_PKCS11_PIN_FILE": ""}, "ELICENSE_PKCS11_PIN_FILE"),
        ({"ELICENSE_PKCS11_PIN_FILE": "/nonexistent/pin"}, "ELICENSE_PKCS11_PIN_FILE"),
    ],
)
def test_bad_hsm_settings_name_the_variable(
    token: Token, env: dict[str, str], setting: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{setting}"):
        load_settings(token.env(**env))


def test_an_empty_pin_file_is_refused_at_start(token: Token, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    settings = load_settings(token.env(ELICENSE_PKCS11_PIN_FILE=str(empty)))
    with pytest.raises(ConfigError, match=r"ELICENSE_PKCS11_PIN_FILE=.* is empty"):
        open_issuer_keys(settings, NAMES)


def test_the_file_store_stays_the_default(tmp_path: Path) -> None:
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    assert settings.issuer_keystore == "file"
    assert settings.pkcs11 is None
