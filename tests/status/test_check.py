"""Verifier-side status checks: each bad token named by its mutation, for JWT and CWT."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from elicense import clock
from elicense.crypto import _json, cose, jws
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import IssuerKey
from elicense.errors import (
    CredentialRevoked,
    CredentialSuspended,
    InvalidToken,
    StatusUnavailable,
    TokenExpired,
    TokenNotYetValid,
)
from elicense.status import check
from elicense.status.token import TokenClaims, TokenForm, sign
from elicense.status.token_status_list import Status, StatusList

URI = "https://issuer.example.gov.cn/status/lists/sl_1"
NOW = 1_800_000_000
SIZE = 1024


def _list() -> StatusList:
    entries = StatusList(SIZE, 2)
    entries[10] = Status.INVALID
    entries[11] = Status.SUSPENDED
    entries[12] = 3
    return entries


def _claims(**changes: int | str) -> TokenClaims:
    values: dict[str, int | str] = {"uri": URI, "iat": NOW, "exp": NOW + 3600, "ttl": 300}
    values.update(changes)
    return TokenClaims(**values)  # type: ignore[arg-type]


def _token(form: TokenForm, signer: LocalSigner, claims: TokenClaims | None = None) -> str | bytes:
    signed = sign(form, _list(), claims or _claims(), signer)
    return signed.decode() if form is TokenForm.JWT else signed


def _ref(idx: int, uri: str = URI) -> dict[str, object]:
    return {"status_list": {"idx": idx, "uri": uri}}


FORMS = pytest.mark.parametrize("form", list(TokenForm))


@pytest.fixture(autouse=True)
def _frozen_now() -> object:
    with clock.frozen(NOW + 60):
        yield


@FORMS
def test_valid_entry(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    assert check.check_status(_token(form, issuer_signer), _ref(0), issuer_keys) is Status.VALID


@FORMS
def test_revoked_entry(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    with pytest.raises(CredentialRevoked) as excinfo:
        check.check_status(_token(form, issuer_signer), _ref(10), issuer_keys)
    assert excinfo.value.instance_code == "credential_revoked"


@FORMS
def test_suspended_entry(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    with pytest.raises(CredentialSuspended):
        check.check_status(_token(form, issuer_signer), _ref(11), issuer_keys)


def test_unknown_status_value_is_unavailable(
    issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    with pytest.raises(StatusUnavailable) as excinfo:
        check.check_status(_token(TokenForm.JWT, issuer_signer), _ref(12), issuer_keys)
    assert excinfo.value.instance_code == "status_value_unknown"


def _code(exc_type: type[InvalidToken], call: object) -> str:
    assert callable(call)
    with pytest.raises(exc_type) as excinfo:
        call()
    return excinfo.value.instance_code


@FORMS
def test_bad_signature_other_key(form: TokenForm, issuer_keys: list[IssuerKey]) -> None:
    other = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    token = _token(form, other)
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_bad_signature"


@FORMS
def test_bad_signature_tampered_list(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(form, issuer_signer)
    if isinstance(token, str):
        head, payload, sig = token.split(".")
        tampered: str | bytes = f"{head}.{payload}.{'A' * len(sig)}"
    else:
        tampered = token[:-1] + bytes([token[-1] ^ 1])
    code = _code(InvalidToken, lambda: check.check_status(tampered, _ref(0), issuer_keys))
    assert code == "status_list_bad_signature"


@FORMS
def test_sub_mismatch(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(form, issuer_signer, _claims(uri=URI + "x"))
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_sub_mismatch"


@FORMS
def test_index_out_of_range(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(form, issuer_signer)
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(SIZE), issuer_keys))
    assert code == "status_index_out_of_range"


@FORMS
def test_expired_list(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(form, issuer_signer, _claims(iat=NOW - 7200, exp=NOW - 3600))
    code = _code(TokenExpired, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_expired"


@FORMS
def test_list_issued_in_the_future(
    form: TokenForm, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(form, issuer_signer, _claims(iat=NOW + 3600, exp=NOW + 7200))
    code = _code(TokenNotYetValid, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_not_yet_valid"


def test_wrong_typ_jwt(issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]) -> None:
    payload = {"sub": URI, "iat": NOW, "exp": NOW + 60, "status_list": _list().to_jwt_claim()}
    token = jws.sign_compact({"typ": "dc+sd-jwt"}, _json.dumps(payload), issuer_signer)
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_wrong_typ"


def test_wrong_typ_cwt(issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]) -> None:
    payload = cbor2.dumps({2: URI, 6: NOW, 4: NOW + 60, 65533: _list().to_cwt_claim()})
    token = cose.sign1(payload, issuer_signer, protected={cose.TYP: "application/cwt"})
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_wrong_typ"


@FORMS
def test_alg_outside_the_keys_allow_list(form: TokenForm) -> None:
    signer = LocalSigner(ed25519.Ed25519PrivateKey.generate())
    keys = [IssuerKey(key=signer.private_key.public_key())]
    token = _token(form, signer)
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), keys))
    assert code == "status_list_alg_not_allowed"
    eddsa = [IssuerKey(key=signer.private_key.public_key(), allowed_algs=frozenset({"EdDSA"}))]
    assert check.check_status(token, _ref(0), eddsa) is Status.VALID


def test_second_trusted_key_verifies(
    issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    old = IssuerKey(key=ec.generate_private_key(ec.SECP256R1()).public_key())
    token = _token(TokenForm.CWT, issuer_signer)
    assert check.check_status(token, _ref(0), [old, *issuer_keys]) is Status.VALID


def test_no_trusted_keys(issuer_signer: LocalSigner) -> None:
    token = _token(TokenForm.JWT, issuer_signer)
    assert (
        _code(InvalidToken, lambda: check.check_status(token, _ref(0), [])) == "status_list_no_key"
    )


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param({}, id="no_status_list"),
        pytest.param({"status_list": {"uri": URI}}, id="no_idx"),
        pytest.param({"status_list": {"idx": -1, "uri": URI}}, id="negative_idx"),
        pytest.param({"status_list": {"idx": True, "uri": URI}}, id="bool_idx"),
        pytest.param({"status_list": {"idx": 1}}, id="no_uri"),
        pytest.param("status", id="not_an_object"),
    ],
)
def test_malformed_status_claim(
    claim: object, issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(TokenForm.JWT, issuer_signer)
    code = _code(InvalidToken, lambda: check.check_status(token, claim, issuer_keys))
    assert code == "status_claim_malformed"


def test_jwt_given_as_bytes_is_recognised(
    issuer_signer: LocalSigner, issuer_keys: list[IssuerKey]
) -> None:
    token = _token(TokenForm.JWT, issuer_signer)
    assert isinstance(token, str)
    assert check.check_status(token.encode(), _ref(0), issuer_keys) is Status.VALID


def test_oversized_token_is_refused_before_parsing(issuer_keys: list[IssuerKey]) -> None:
    token = b"\xd2" + b"\x00" * (check.MAX_TOKEN_BYTES + 1)
    code = _code(InvalidToken, lambda: check.check_status(token, _ref(0), issuer_keys))
    assert code == "status_list_too_large"
