"""IssuerKeys caches each authority's current signer and JWKS, and still sees rotations
made by another process or another store object on the next signature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from elicense import clock
from elicense.crypto import algorithms, jws
from elicense.crypto import x509 as chain
from elicense.crypto.file_store import INDEX, FileKeyStore
from elicense.crypto.issuing_ca import CA_CERT, IssuingCA
from elicense.crypto.jwk import load_public_jwk, public_jwk
from elicense.crypto.keystore import Signer
from elicense.issuance.keys import PASSPHRASE_ENV, IssuerKeys

ISS = "https://issuer.example.gov.cn"
NAME = "civil_affairs"
PASSPHRASE = "issuer-keys-cache-test"


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IssuerKeys:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    issuer_keys = IssuerKeys(tmp_path, [NAME, "public_security"], issuer_url=ISS)
    issuer_keys.provision()
    return issuer_keys


def _other_store(keys: IssuerKeys) -> FileKeyStore:
    return FileKeyStore(keys.keys_dir / NAME, PASSPHRASE.encode())


def _other_store_and_ca(keys: IssuerKeys) -> tuple[FileKeyStore, IssuingCA]:
    """Another object on the same store, as ``elicense keys rotate`` opens it."""
    other = _other_store(keys)
    ca = IssuingCA.load(other)
    assert ca is not None
    return other, ca


def _age_index(keys: IssuerKeys, seconds: int = 10) -> None:
    """Back-date the index so its stamp counts as settled (as on a long-running server)."""
    path = keys.keys_dir / NAME / INDEX
    mtime = path.stat().st_mtime_ns - seconds * 1_000_000_000
    os.utime(path, ns=(mtime, mtime))


def _kid_of(token: str) -> str:
    kid = jws.decode_compact(token).header["kid"]
    assert isinstance(kid, str)
    return kid


def _verify(token: str, keys: IssuerKeys) -> None:
    """``token`` verifies under its ``kid`` in the published JWKS and under its x5c leaf."""
    published = {k["kid"]: k for k in keys.jwks()["keys"]}
    decoded = jws.decode_compact(token)
    jws.verify(
        decoded, load_public_jwk(published[_kid_of(token)]), allowed_algs=frozenset({"ES256"})
    )


def _assert_certified(signer: Signer, keys: IssuerKeys) -> None:
    anchor = x509.load_pem_x509_certificate((keys.keys_dir / NAME / CA_CERT).read_bytes())
    leaf_key = chain.verify_x5c(list(signer.x5c), [anchor], issuer=ISS)
    assert public_jwk(leaf_key) == signer.public_jwk


def test_settled_index_serves_the_cached_signer_and_jwks(keys: IssuerKeys) -> None:
    _age_index(keys)
    first = keys.signer_for(NAME)
    assert keys.signer_for(NAME) is first
    reread = _other_store(keys).current_signer()  # the uncached path
    assert (first.kid, first.public_jwk, first.x5c) == (reread.kid, reread.public_jwk, reread.x5c)
    cached_token = jws.sign_compact({"typ": "test"}, b"{}", first)
    jws.verify(
        jws.decode_compact(cached_token),
        load_public_jwk(reread.public_jwk),
        allowed_algs=frozenset({"ES256"}),
    )
    assert keys.jwks() == keys.jwks()
    assert first.kid in {k["kid"] for k in keys.jwks()["keys"]}


def test_rotation_by_another_process_is_used_for_the_next_signature(keys: IssuerKeys) -> None:
    _age_index(keys)
    old = keys.signer_for(NAME)
    old_token = jws.sign_compact({}, b"{}", old)
    command = [sys.executable, "-c", "from elicense.cli import main; main()"]
    result = subprocess.run(
        [*command, "keys", "rotate", "--dir", str(keys.keys_dir / NAME)],
        env={**os.environ, PASSPHRASE_ENV: PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    new_kid = json.loads(result.stdout)["kid"]

    new = keys.signer_for(NAME)
    assert new.kid == new_kid != old.kid
    _assert_certified(new, keys)  # the chain was there before the index named the key
    new_token = jws.sign_compact({}, b"{}", new)
    assert _kid_of(new_token) == new_kid
    _verify(new_token, keys)
    _verify(old_token, keys)  # the old key stays published until retired
    assert [k["kid"] for k in keys.jwks()["keys"][:2]] == [new_kid, old.kid]


def test_rotation_and_retirement_through_another_store_object(keys: IssuerKeys) -> None:
    _age_index(keys)
    old = keys.signer_for(NAME)
    other, ca = _other_store_and_ca(keys)
    with clock.shifted(5):
        info = other.rotate(certify=ca.chain_for)
    assert keys.signer_for(NAME).kid == info.kid
    _assert_certified(keys.signer_for(NAME), keys)
    other.retire(old.kid)
    published = {k["kid"] for k in keys.jwks()["keys"]}
    assert info.kid in published
    assert old.kid not in published


def test_a_reader_during_rotation_sees_the_old_key_until_the_new_one_is_certified(
    keys: IssuerKeys,
) -> None:
    old = keys.signer_for(NAME)
    other, ca = _other_store_and_ca(keys)
    seen: list[Signer] = []

    def certify(public_key: algorithms.PublicKey) -> list[x509.Certificate]:
        seen.append(keys.signer_for(NAME))  # the chain is being made: not current yet
        return ca.chain_for(public_key)

    with clock.shifted(5):
        info = other.rotate(certify=certify)
    assert [s.kid for s in seen] == [old.kid]
    _assert_certified(seen[0], keys)
    new = keys.signer_for(NAME)
    assert new.kid == info.kid
    _assert_certified(new, keys)


def test_recertification_of_the_current_key_reaches_the_cache(keys: IssuerKeys) -> None:
    _age_index(keys)
    before = keys.signer_for(NAME)
    other, ca = _other_store_and_ca(keys)
    other.set_certificate_chain(before.kid, ca.chain_for(load_public_jwk(before.public_jwk)))
    after = keys.signer_for(NAME)
    assert after.kid == before.kid
    assert after.x5c != before.x5c
    _assert_certified(after, keys)


def test_an_unsettled_index_is_reread_even_when_its_stamp_is_unchanged(
    keys: IssuerKeys,
) -> None:
    """Two writes in one mtime tick, same size, same inode: only re-reading catches it."""
    old = keys.signer_for(NAME)
    with clock.shifted(5):
        new = _other_store(keys).rotate()
    assert keys.signer_for(NAME).kid == new.kid
    path = keys.keys_dir / NAME / INDEX
    before = path.stat()
    text = path.read_text("utf-8")
    swapped = text.replace(f'"current": "{new.kid}"', f'"current": "{old.kid}"')
    assert swapped != text
    assert len(swapped) == len(text)
    with open(path, "r+", encoding="utf-8") as handle:  # in place: same inode and size
        handle.write(swapped)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert keys.store(NAME).stamp() == (
        before.st_dev,
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert keys.signer_for(NAME).kid == old.kid


def test_threads_sign_while_another_object_rotates(keys: IssuerKeys) -> None:
    _age_index(keys)
    tokens: list[str] = []
    errors: list[BaseException] = []
    rotated = threading.Event()
    after_rotation: list[str] = []

    deadline = time.monotonic() + 60

    def work() -> None:
        signed_after = 0
        try:
            while signed_after < 5 and time.monotonic() < deadline:
                seen_rotation = rotated.is_set()
                token = jws.sign_compact({}, b"{}", keys.signer_for(NAME))
                tokens.append(token)
                if seen_rotation:
                    after_rotation.append(token)
                    signed_after += 1
                time.sleep(0.001)  # a steady trickle, not thousands of tokens to verify
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    with clock.shifted(5):
        new = _other_store(keys).rotate()
    rotated.set()
    for thread in threads:
        thread.join()
    assert not errors
    for token in tokens:
        _verify(token, keys)
    assert len(after_rotation) == 20
    assert {_kid_of(t) for t in after_rotation} == {new.kid}
