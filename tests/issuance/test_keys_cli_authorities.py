"""``elicense keys ... --authority NAME | --all-authorities`` on the server's file key
stores (``ELICENSE_ISSUER_KEYSTORE=file``): the same selection as with an HSM, opened
with the server's passphrase, seen by a running server from its next signature."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicense.catalog.model import Catalog
from elicense.config import load_settings
from elicense.crypto import jws
from elicense.crypto import x509 as chain
from elicense.crypto.cli import keys_app
from elicense.crypto.issuing_ca import CA_CERT
from elicense.crypto.trust import TrustList
from elicense.errors import ConfigError
from elicense.issuance.keys import (
    PASSPHRASE_ENV,
    IssuerKeys,
    authority_key_name,
    catalog_key_names,
    open_issuer_keys,
)

ISS = "https://issuer.example.gov.cn"
NAME = "civil_affairs"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """The server's settings, without ELICENSE_KEY_PASSPHRASE: the development
    passphrase file that the server makes is what the CLI must use (never a prompt)."""
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    return {
        "ELICENSE_DATA_DIR": str(tmp_path / "data"),
        "ELICENSE_PUBLIC_BASE_URL": ISS,
        "ELICENSE_ISSUER_KEYSTORE": None,
        PASSPHRASE_ENV: None,
    }


@pytest.fixture
def server_keys(env: dict[str, str | None], catalog: Catalog) -> IssuerKeys:
    settings = load_settings({k: v for k, v in env.items() if v is not None})
    keys = open_issuer_keys(settings, catalog_key_names(catalog))
    keys.provision()
    return keys


def _keys(env: dict[str, str | None], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(keys_app, list(args), env=env)
    return result.exit_code, result.output


def test_rotate_one_authority_in_the_servers_store(
    server_keys: IssuerKeys, env: dict[str, str | None]
) -> None:
    old = server_keys.signer_for(NAME)
    others = {n: server_keys.signer_for(n).kid for n in server_keys.key_names if n != NAME}
    code, output = _keys(env, "rotate", "--authority", NAME)
    assert code == 0, output
    report = json.loads(output)
    assert report["authority"] == NAME
    assert report["keys"] == [report["kid"], old.kid]
    assert (server_keys.keys_dir / ".passphrase").exists()

    new = server_keys.signer_for(NAME)  # the running server, next signature
    assert new.kid == report["kid"]
    anchor = chain.load_certificate((server_keys.keys_dir / NAME / CA_CERT).read_text())
    chain.verify_x5c(list(new.x5c), [anchor], issuer=ISS)
    assert {n: server_keys.signer_for(n).kid for n in others} == others  # only that one


def test_jwks_and_export_trust_cover_every_authority(
    server_keys: IssuerKeys, env: dict[str, str | None], tmp_path: Path
) -> None:
    code, output = _keys(env, "jwks", "--all-authorities")
    assert code == 0, output
    assert json.loads(output) == server_keys.jwks()
    code, output = _keys(env, "jwks", "--authority", NAME)
    assert code == 0, output
    assert [k["kid"] for k in json.loads(output)["keys"]] == [server_keys.signer_for(NAME).kid]

    out = tmp_path / "trust.json"
    code, output = _keys(env, "export-trust", "--all-authorities", "--iss", ISS, "-o", str(out))
    assert code == 0, output
    trusted = TrustList.load(out).issuers[ISS]
    assert json.loads(output)["keys"] == len(server_keys.key_names) == len(trusted.x5c_anchors)
    for name in server_keys.key_names:
        signer = server_keys.signer_for(name)
        token = jws.sign_compact({"typ": "test"}, b"{}", signer)
        assert TrustList.load(out).resolve(jws.decode_compact(token).header, {"iss": ISS})
        chain.verify_x5c(list(signer.x5c), list(trusted.x5c_anchors), issuer=ISS)


def test_dir_and_an_authority_together_are_refused(
    server_keys: IssuerKeys, env: dict[str, str | None]
) -> None:
    code, output = _keys(
        env, "rotate", "--dir", str(server_keys.keys_dir / NAME), "--authority", NAME
    )
    assert code == 2
    assert output.strip() == (
        "configuration error: give --dir (a file key store) or an authority, not both"
    )


def test_an_authority_is_named_by_its_id_or_its_key_name(catalog: Catalog) -> None:
    marriage = catalog.get("marriage_license")
    renamed = dataclasses.replace(
        marriage, authority=dataclasses.replace(marriage.authority, id="civil")
    )
    other = Catalog({**catalog.types, marriage.id: renamed})
    assert authority_key_name(other, "civil") == NAME
    assert authority_key_name(other, NAME) == NAME
    with pytest.raises(ConfigError, match="no issuing authority 'civil_affair' in the catalogue"):
        authority_key_name(other, "civil_affair")
