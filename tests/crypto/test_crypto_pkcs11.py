"""The PKCS#11 key store against SoftHSM2 with a token created at test time.

Needs Debian's ``softhsm2`` package (``softhsm2-util`` and ``libsofthsm2.so``); skipped
with the reason when it is not installed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from elicense import clock
from elicense.crypto import jws
from elicense.crypto.jwk import load_public_jwk, thumbprint
from elicense.crypto.keystore import jwks
from elicense.errors import Conflict, CryptoError, KeyNotFound, UnsupportedAlgorithm
from elicense.formats import sd_jwt_vc
from softhsm_support import LIBRARY, UTIL, requires_softhsm

pytestmark = requires_softhsm
PIN = "246810"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    label = "elicense-test"
    assert UTIL is not None
    subprocess.run(
        [UTIL, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "13579135"],
        check=True,
        capture_output=True,
    )
    yield label
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture(scope="module")
def store(token: str) -> Iterator[object]:
    from elicense.crypto.pkcs11_store import Pkcs11KeyStore

    assert LIBRARY is not None
    hsm = Pkcs11KeyStore(LIBRARY, token, PIN)
    yield hsm
    hsm.close()


def test_keys_are_generated_in_the_token_and_sign_es256(store: object) -> None:
    from elicense.crypto.pkcs11_store import Pkcs11KeyStore

    assert isinstance(store, Pkcs11KeyStore)
    with pytest.raises(KeyNotFound):
        store.current_signer()
    info = store.rotate()
    signer = store.current_signer()
    assert signer.kid == info.kid == thumbprint(signer.public_jwk)
    token = jws.sign_compact({"typ": "JWT"}, b'{"hello":"hsm"}', signer)
    verified = jws.verify(
        jws.decode_compact(token),
        load_public_jwk(signer.public_jwk),
        allowed_algs=frozenset({"ES256"}),
    )
    assert verified.header["kid"] == info.kid


def test_rotation_retirement_and_jwks(store: object) -> None:
    from elicense.crypto.pkcs11_store import Pkcs11KeyStore

    assert isinstance(store, Pkcs11KeyStore)
    if not store.list_keys():
        store.rotate()
    old = store.current_signer()
    old_token = jws.sign_compact({}, b"{}", old)
    with clock.shifted(5):
        new = store.rotate()
    assert store.current_signer().kid == new.kid
    assert {k["kid"] for k in jwks(store)["keys"]} >= {old.kid, new.kid}
    jws.verify(
        jws.decode_compact(old_token),
        load_public_jwk(store.signer(old.kid).public_jwk),
        allowed_algs=frozenset({"ES256"}),
    )
    with pytest.raises(Conflict):
        store.retire(new.kid)
    store.retire(old.kid)
    assert old.kid not in {k["kid"] for k in jwks(store)["keys"]}
    with pytest.raises(UnsupportedAlgorithm):
        store.rotate("EdDSA")


def test_hsm_signer_issues_a_verifiable_credential(store: object) -> None:
    from elicense.crypto.pkcs11_store import Pkcs11KeyStore
    from elicense.crypto.trust import single_issuer

    assert isinstance(store, Pkcs11KeyStore)
    if not store.list_keys():
        store.rotate()
    signer = store.current_signer()
    iss = "https://health.example.gov.cn"
    token = sd_jwt_vc.issue_credential(
        signer=signer,
        issuer=iss,
        vct="https://credentials.example.gov.cn/health_card",
        claims={"name": "王芳", "card_number": "HC-1"},
        selectively_disclosable=[("name",)],
        holder_jwk=None,
        expires_at=clock.epoch() + 60,
    ).serialize()
    trust = single_issuer(iss, [k.jwk() for k in store.list_keys()])
    policy = sd_jwt_vc.CredentialPolicy(unsafe_allow_unbound=True)
    verified = sd_jwt_vc.verify_credential(token, trust=trust, policy=policy)
    assert verified.subject_claims() == {"name": "王芳", "card_number": "HC-1"}


def test_wrong_pin_is_a_crypto_error(token: str) -> None:
    from elicense.crypto.pkcs11_store import Pkcs11KeyStore

    assert LIBRARY is not None
    with pytest.raises(CryptoError) as caught:
        Pkcs11KeyStore(LIBRARY, token, "000000")
    assert caught.value.instance_code == "hsm_error"
