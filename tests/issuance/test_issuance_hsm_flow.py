"""A marriage license issued over HTTP with the issuer keys in a PKCS#11 token
(SoftHSM2 made at test time): the credential and its status list are signed in the
token and verify with the published JWKS (both database backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from issuance_helpers import BASE_URL, Holder, TestClient, issue_marriage_license

from elicense.catalog.model import Catalog
from elicense.config import load_settings
from elicense.crypto import jws
from elicense.crypto import x509 as chain
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.pkcs11_store import Pkcs11KeyStore
from elicense.crypto.trust import IssuerKey, single_issuer
from elicense.errors import InvalidSignature
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.issuance.key_stores import Pkcs11Backend
from elicense.issuance.keys import IssuerKeys, open_issuer_keys
from elicense.runtime import Runtime
from elicense.status.check import check_status
from elicense.status.token_status_list import Status
from softhsm_support import requires_softhsm, softhsm_token

pytestmark = requires_softhsm


@pytest.fixture(scope="module")
def issuer_keys(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[IssuerKeys]:
    """Overrides the file-store keys of ``conftest`` for this module's ``runtime``."""
    root = tmp_path_factory.mktemp("hsm-flow")
    with softhsm_token(root / "hsm") as token:
        env = token.env(ELICENSE_DATA_DIR=str(root / "data"), ELICENSE_PUBLIC_BASE_URL=BASE_URL)
        keys = open_issuer_keys(load_settings(env), (t.authority.signing_key for t in catalog))
        keys.provision()
        yield keys
        keys.close()


def _token_kids(keys: IssuerKeys, name: str) -> set[str]:
    assert isinstance(keys.backend, Pkcs11Backend)
    return {k.kid for k in Pkcs11KeyStore.on(keys.backend.session, prefix=name).list_keys()}


def test_marriage_license_signed_in_the_hsm_verifies_with_the_published_trust(
    runtime: Runtime, client: TestClient, holder: Holder, issuer_keys: IssuerKeys
) -> None:
    credential = issue_marriage_license(runtime, client, holder)
    published = client.get("/.well-known/jwks.json").json()["keys"]
    trust = single_issuer(BASE_URL, published, algs=["ES256"])
    verified = verify_credential(credential, trust=trust, policy=CredentialPolicy())
    assert verified.claims["marital_status"] == "married"
    assert verified.claims["holder"]["name"] == "王磊"

    signing_key = next(
        t.authority.signing_key for t in runtime.catalog or () if t.id == "marriage_license"
    )
    kid = jws.decode_compact(credential.split("~")[0]).header["kid"]
    assert kid in _token_kids(issuer_keys, signing_key)  # signed by a key in the token
    assert isinstance(issuer_keys.backend, Pkcs11Backend)
    anchor = issuer_keys.backend.issuing_ca(signing_key).cert
    chain.verify_x5c(list(issuer_keys.signer_for(signing_key).x5c), [anchor], issuer=BASE_URL)

    assert verified.status is not None
    status_token = client.get(verified.status.uri.removeprefix(BASE_URL)).content
    status_kid = jws.decode_compact(status_token.decode("ascii")).header["kid"]
    assert status_kid in _token_kids(issuer_keys, signing_key)  # the list is signed there too
    keys = [IssuerKey(key=load_public_jwk(k)) for k in published]
    claim = {"status_list": {"idx": verified.status.idx, "uri": verified.status.uri}}
    assert check_status(status_token, claim, keys) is Status.VALID


def test_a_credential_does_not_verify_with_another_issuers_keys(
    runtime: Runtime, client: TestClient, holder: Holder
) -> None:
    """The same kid bound to a key outside the token: the HSM's signature must not pass."""
    credential = issue_marriage_license(runtime, client, holder)
    kid = jws.decode_compact(credential.split("~")[0]).header["kid"]
    stranger = LocalSigner(chain.create_issuing_ca("Stranger CA")[0])
    trust = single_issuer(BASE_URL, [{**stranger.public_jwk, "kid": kid}])
    with pytest.raises(InvalidSignature):
        verify_credential(credential, trust=trust, policy=CredentialPolicy())


def test_no_key_files_are_written_with_an_hsm(issuer_keys: IssuerKeys) -> None:
    assert Path(issuer_keys.keys_dir).name == "keys"
    assert not any(Path(issuer_keys.keys_dir).glob("*/keys.json"))  # no key files at all
