"""``elicense keys rotate|jwks|export-trust --authority`` on issuer keys in a PKCS#11
token (SoftHSM2 made at test time), run as an operator runs them: another process with
the server's settings, while the server keeps issuing (both database backends)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from issuance_helpers import BASE_URL, Holder, TestClient, issue_marriage_license
from typer.testing import CliRunner

from elicense.catalog.model import Catalog
from elicense.config import load_settings
from elicense.crypto import jws
from elicense.crypto import x509 as chain
from elicense.crypto.cli import keys_app
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.pkcs11_store import Pkcs11KeyStore
from elicense.crypto.trust import IssuerKey, TrustList
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.issuance.key_stores import Pkcs11Backend
from elicense.issuance.keys import IssuerKeys, catalog_key_names, open_issuer_keys
from elicense.runtime import Runtime
from elicense.status.check import check_status
from elicense.status.token_status_list import Status
from softhsm_support import Token, requires_softhsm, softhsm_token

pytestmark = requires_softhsm
NAME = "civil_affairs"  # the marriage license's authority.signing_key


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Token, dict[str, str]]]:
    """A token and the server's settings (as environment variables) that select it."""
    root = tmp_path_factory.mktemp("keys-cli-hsm")
    with softhsm_token(root / "hsm") as token:
        yield (
            token,
            token.env(ELICENSE_DATA_DIR=str(root / "data"), ELICENSE_PUBLIC_BASE_URL=BASE_URL),
        )


@pytest.fixture(scope="module")
def issuer_keys(hsm: tuple[Token, dict[str, str]], catalog: Catalog) -> Iterator[IssuerKeys]:
    """The server's keys in the token (overrides the file keys of ``conftest``)."""
    keys = open_issuer_keys(load_settings(hsm[1]), catalog_key_names(catalog))
    keys.provision()
    yield keys
    keys.close()


def _keys_cli(
    env: dict[str, str], *args: str, unset: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``elicense keys ...`` in another process with ``env`` on top of ours (less the
    variable ``unset``)."""
    command = [sys.executable, "-c", "from elicense.cli import main; main()", "keys", *args]
    environ = {**os.environ, **env}
    environ.pop(unset or "", None)
    return subprocess.run(
        command, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def _token_kids(keys: IssuerKeys, name: str) -> set[str]:
    assert isinstance(keys.backend, Pkcs11Backend)
    return {k.kid for k in Pkcs11KeyStore.on(keys.backend.session, prefix=name).list_keys()}


def _kid(credential: str) -> str:
    kid = jws.decode_compact(credential.split("~")[0]).header["kid"]
    assert isinstance(kid, str)
    return kid


def _anchors(keys: IssuerKeys) -> list[x509.Certificate]:
    assert isinstance(keys.backend, Pkcs11Backend)
    return [keys.backend.issuing_ca(name).cert for name in keys.key_names]


def test_cli_rotation_in_the_hsm_then_old_and_new_credentials_verify_with_exported_trust(
    runtime: Runtime,
    client: TestClient,
    holder: Holder,
    issuer_keys: IssuerKeys,
    hsm: tuple[Token, dict[str, str]],
    tmp_path: Path,
) -> None:
    token, env = hsm
    old_credential = issue_marriage_license(runtime, client, holder)
    old_kid = _kid(old_credential)

    # an operator's shell without the server's ELICENSE_PUBLIC_BASE_URL
    rotated = _keys_cli(env, "rotate", "--authority", NAME, unset="ELICENSE_PUBLIC_BASE_URL")
    assert rotated.returncode == 0, rotated.stderr
    report = json.loads(rotated.stdout)
    new_kid = report["kid"]
    assert report["authority"] == NAME
    assert new_kid != old_kid
    assert {new_kid, old_kid} <= set(report["keys"])
    assert new_kid in _token_kids(issuer_keys, NAME)  # made in the token
    assert not any(Path(env["ELICENSE_DATA_DIR"]).glob("keys/*/keys.json"))  # no key files

    new_credential = issue_marriage_license(runtime, client, holder)  # no wait, no restart
    assert _kid(new_credential) == new_kid

    out = tmp_path / "trust.json"
    exported = _keys_cli(
        env, "export-trust", "--all-authorities", "--iss", BASE_URL, "-o", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    trust = TrustList.load(out)
    trusted = trust.issuers[BASE_URL]
    every_token_kid = set().union(*(_token_kids(issuer_keys, n) for n in issuer_keys.key_names))
    assert set(trusted.keys) == every_token_kid  # every HSM signing key, no CA key
    assert {old_kid, new_kid} <= set(trusted.keys)
    assert json.loads(exported.stdout)["keys"] == len(every_token_kid)
    assert list(trusted.x5c_anchors) == _anchors(issuer_keys)
    assert token.pin not in out.read_text() + exported.stdout + exported.stderr

    for credential in (old_credential, new_credential):
        verified = verify_credential(credential, trust=trust, policy=CredentialPolicy())
        assert verified.claims["marital_status"] == "married"
    # the new key's certificate, made by the CLI, chains to the exported anchor and names
    # the server's issuer although the operator's shell did not set it
    new_signer = issuer_keys.signer_for(NAME)
    chain.verify_x5c(list(new_signer.x5c), list(trusted.x5c_anchors), issuer=BASE_URL)

    verified = verify_credential(new_credential, trust=trust, policy=CredentialPolicy())
    assert verified.status is not None
    status_token = client.get(verified.status.uri.removeprefix(BASE_URL)).content
    keys = [IssuerKey(key=load_public_jwk(k)) for k in trusted.jwks]
    claim = {"status_list": {"idx": verified.status.idx, "uri": verified.status.uri}}
    assert check_status(status_token, claim, keys) is Status.VALID


def test_a_rotation_by_the_cli_in_another_process_is_used_for_the_next_signature(
    issuer_keys: IssuerKeys, hsm: tuple[Token, dict[str, str]]
) -> None:
    """The PKCS#11 twin of the file-store test in test_issuer_keys_cache.py."""
    old = issuer_keys.signer_for(NAME)
    old_token = jws.sign_compact({"typ": "test"}, b"{}", old)
    rotated = _keys_cli(hsm[1], "rotate", "--authority", NAME)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]

    new = issuer_keys.signer_for(NAME)
    assert new.kid == new_kid != old.kid
    assert isinstance(issuer_keys.backend, Pkcs11Backend)
    anchor = issuer_keys.backend.issuing_ca(NAME).cert
    chain.verify_x5c(list(new.x5c), [anchor], issuer=BASE_URL)  # certified before current
    new_token = jws.sign_compact({"typ": "test"}, b"{}", new)
    published = {k["kid"]: k for k in issuer_keys.jwks()["keys"]}
    for token, kid in ((new_token, new_kid), (old_token, old.kid)):
        jws.verify(
            jws.decode_compact(token),
            load_public_jwk(published[kid]),
            allowed_algs=frozenset({"ES256"}),
        )


def _server_view(keys: IssuerKeys) -> IssuerKeys:
    """Another server's keys on the same token, with the servers' recheck interval."""
    assert isinstance(keys.backend, Pkcs11Backend)
    backend = Pkcs11Backend(keys.backend.session, keys.keys_dir, BASE_URL)
    return IssuerKeys(keys.keys_dir, (NAME,), issuer_url=BASE_URL, backend=backend)


def test_the_cli_returns_when_every_server_signs_with_the_new_key(
    issuer_keys: IssuerKeys, hsm: tuple[Token, dict[str, str]]
) -> None:
    """Servers re-read the token's stamp once a second. While the CLI rotates, servers
    keep looking at the token (a new one every few milliseconds, so the last to see the
    old key looked just before the new one became current); when the CLI returns, each
    signs with the new key from its next signature. The CLI runs in this process (the
    token's calls serialised on the one session): SoftHSM 2.6 is not safe for a key made
    in one process while another searches the token (SoftHSMv2 issue 573)."""
    old_kid = issuer_keys.signer_for(NAME).kid
    last_to_see_old: list[IssuerKeys] = []
    stop = threading.Event()

    def servers_looking() -> None:
        while not stop.wait(0.001):
            server = _server_view(issuer_keys)
            if server.signer_for(NAME).kid == old_kid:
                last_to_see_old[:] = [server]

    looking = threading.Thread(target=servers_looking)
    looking.start()
    try:
        rotated = CliRunner().invoke(keys_app, ["rotate", "--authority", NAME], env=hsm[1])
    finally:
        stop.set()
        looking.join()
    assert rotated.exit_code == 0, rotated.output
    new_kid = json.loads(rotated.output)["kid"]
    (server,) = last_to_see_old
    assert server.backend.recheck_seconds == 1.0
    assert server.signer_for(NAME).kid == new_kid
    assert issuer_keys.signer_for(NAME).kid == new_kid


def test_jwks_selects_one_authority_or_all_of_them(
    issuer_keys: IssuerKeys, hsm: tuple[Token, dict[str, str]]
) -> None:
    one = _keys_cli(hsm[1], "jwks", "--authority", NAME)
    assert one.returncode == 0, one.stderr
    kids = [k["kid"] for k in json.loads(one.stdout)["keys"]]
    assert set(kids) == _token_kids(issuer_keys, NAME)
    every = _keys_cli(hsm[1], "jwks", "--all-authorities")
    assert every.returncode == 0, every.stderr
    published = json.loads(every.stdout)
    assert published == issuer_keys.jwks()  # what the server publishes at jwks.json
    assert all("d" not in k for k in published["keys"])
    assert {k["kid"] for k in published["keys"]} > set(kids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jwks"], "ELICENSE_ISSUER_KEYSTORE=pkcs11 keeps a store per authority"),
        (["rotate", "--authority", "nope"], "no issuing authority 'nope' in the catalogue"),
        (["jwks", "--authority", NAME, "--all-authorities"], "not both"),
        (["rotate", "--dir", "/tmp", "--authority", NAME], "not both"),
        (["init"], "give --dir for a file store"),
    ],
)
def test_a_bad_selection_is_one_line_and_exit_2(
    hsm: tuple[Token, dict[str, str]], args: list[str], message: str
) -> None:
    result = _keys_cli(hsm[1], *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ")
    assert message in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"ELICENSE_PKCS11_PIN_FILE": "wrong"}, "ELICENSE_PKCS11_PIN_FILE"),
        ({"ELICENSE_PKCS11_TOKEN_LABEL": "no-such-token"}, "ELICENSE_PKCS11_TOKEN_LABEL"),
    ],
)
@pytest.mark.parametrize(
    "args",
    [
        ["rotate", "--authority", NAME],
        ["jwks", "--all-authorities"],
        ["export-trust", "--iss", BASE_URL, "-o", "trust.json", "--authority", NAME],
    ],
)
def test_a_wrong_pin_or_token_is_one_line_and_exit_2(
    hsm: tuple[Token, dict[str, str]],
    tmp_path: Path,
    override: dict[str, str],
    setting: str,
    args: list[str],
) -> None:
    """Against the module's token (SoftHSM2 does not lock a PIN after failed logins)."""
    token, settings = hsm
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("000000\n")
    values = {k: str(wrong) if v == "wrong" else v for k, v in override.items()}
    env = {**settings, **values}
    args = [str(tmp_path / a) if a == "trust.json" else a for a in args]
    result = _keys_cli(env, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {setting}: ")
    assert "Traceback" not in result.stderr
    assert token.pin not in result.stderr + result.stdout
    assert result.stdout == ""
    assert not (tmp_path / "trust.json").exists()
