"""Pure parts: USCC check characters, DCQL parsing and matching, status list cache
failures (bad signature, sub mismatch, out-of-range index), JWE round trip."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from elicense import clock
from elicense.crypto import jwe
from elicense.crypto.jwk import public_jwk
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import single_issuer
from elicense.errors import ELicenseError
from elicense.formats.sd_jwt_vc import StatusReference
from elicense.status import check
from elicense.status import token as status_token
from elicense.status.token_status_list import StatusList
from elicense.verification import dcql, uscc
from elicense.verification.policy import region_covers
from elicense.verification.status_cache import FetchNeeded, StatusListCache

ISS = "https://elicense.example.gov.cn"
URI = f"{ISS}/status/lists/sl_1"


@pytest.mark.parametrize(
    "code", ["91350100M000100Y43", "9144030071526726XG", "914403001922038216", "91110000802100433B"]
)
def test_uscc_valid(code: str) -> None:
    assert uscc.validate(code).code == code


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("91350100M000100Y4", "uscc_length"),
        ("91350100M000100Y4I", "uscc_charset"),
        ("Z1350100M000100Y43", "uscc_charset"),
        ("B1350100M000100Y43", "uscc_authority"),
        ("95350100M000100Y43", "uscc_authority"),
        ("91050100M000100Y43", "uscc_region"),
        ("91350100M000100Y53", "uscc_org_check"),
        ("91350100M000100Y44", "uscc_check"),
    ],
)
def test_uscc_invalid(code: str, error: str) -> None:
    with pytest.raises(ELicenseError) as excinfo:
        uscc.validate(code)
    assert excinfo.value.instance_code == error


VCT = "https://elicense.example.gov.cn/vct/marriage_license"
QUERY: dict[str, Any] = {
    "credentials": [
        {
            "id": "m",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [VCT]},
            "claims": [
                {"id": "s", "path": ["marital_status"], "values": ["married"]},
                {"id": "n", "path": ["spouse", "name"]},
                {"id": "i", "path": ["spouse", "id_number"]},
            ],
            "claim_sets": [["s", "n", "i"], ["s", "n"]],
        }
    ]
}


def test_dcql_round_trip_and_matching() -> None:
    query = dcql.parse(QUERY)
    assert dcql.parse(query.to_json()) == query
    claims = {"marital_status": "married", "spouse": {"name": "周婷"}}
    credential = query.credentials[0]
    assert dcql.disclosure_paths(credential, claims) == (("marital_status",), ("spouse", "name"))
    assert dcql.match_credential(credential, VCT, claims)
    dcql.check_credential_sets(query, ["m"])


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"marital_status": "divorced", "spouse": {"name": "x"}}, "dcql_not_satisfied"),
        ({"marital_status": "married"}, "dcql_not_satisfied"),
    ],
)
def test_dcql_not_satisfied(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(ELicenseError) as excinfo:
        dcql.match_credential(dcql.parse(QUERY).credentials[0], VCT, claims)
    assert excinfo.value.instance_code == code


def test_dcql_wrong_vct_and_missing_credential() -> None:
    query = dcql.parse(QUERY)
    with pytest.raises(ELicenseError):
        dcql.match_credential(query.credentials[0], "https://other/vct", {})
    with pytest.raises(ELicenseError):
        dcql.check_credential_sets(query, [])


@pytest.mark.parametrize(
    "mutation",
    [
        {"credentials": []},
        {"credentials": [{**QUERY["credentials"][0], "format": "mso_mdoc"}]},
        {"credentials": [{**QUERY["credentials"][0], "claims": []}]},
        {"credentials": [{**QUERY["credentials"][0], "claims": [{"path": []}]}]},
        {"credentials": [{**QUERY["credentials"][0], "claim_sets": [["nope"]]}]},
        {"credentials": [QUERY["credentials"][0], QUERY["credentials"][0]]},
        {"credentials": QUERY["credentials"], "extra": 1},
    ],
)
def test_dcql_invalid(mutation: dict[str, Any]) -> None:
    with pytest.raises(ELicenseError):
        dcql.parse(mutation)


def test_region_covers() -> None:
    assert region_covers("440000", "440305")
    assert region_covers("440300", "440305")
    assert not region_covers("440300", "441900")
    assert not region_covers("330100", "440305")


def _status_token(
    signer: LocalSigner, *, sub: str = URI, size: int = 16, revoked: int | None = None
) -> str:
    now = clock.epoch()
    claims = status_token.TokenClaims(uri=sub, iat=now, exp=now + 3600, ttl=60)
    status_list = StatusList(size, 2)
    if revoked is not None:
        status_list[revoked] = 1
    return status_token.sign_jwt(status_list, claims, signer)


def _cache(issuer: LocalSigner, token: str) -> StatusListCache:
    trust = single_issuer(ISS, [{**issuer.public_jwk, "kid": issuer.kid}])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=token))
    return StatusListCache(trust, transport=transport)


@pytest.fixture(scope="module")
def issuer() -> LocalSigner:
    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def test_status_list_valid(issuer: LocalSigner) -> None:
    assert _cache(issuer, _status_token(issuer)).check(ISS, StatusReference(URI, 3)) == 0


def test_status_list_bad_signature(issuer: LocalSigner) -> None:
    rogue = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ELicenseError) as excinfo:
        _cache(issuer, _status_token(rogue)).check(ISS, StatusReference(URI, 3))
    assert excinfo.value.instance_code == "status_list_bad_signature"


def test_status_list_sub_mismatch(issuer: LocalSigner) -> None:
    token = _status_token(issuer, sub=f"{ISS}/status/lists/other")
    with pytest.raises(ELicenseError) as excinfo:
        _cache(issuer, token).check(ISS, StatusReference(URI, 3))
    assert excinfo.value.instance_code == "status_list_sub_mismatch"


def test_status_index_out_of_range(issuer: LocalSigner) -> None:
    with pytest.raises(ELicenseError) as excinfo:
        _cache(issuer, _status_token(issuer, size=16)).check(ISS, StatusReference(URI, 16))
    assert excinfo.value.instance_code == "status_index_out_of_range"


def test_status_uri_on_another_origin(issuer: LocalSigner) -> None:
    with pytest.raises(ELicenseError) as excinfo:
        _cache(issuer, _status_token(issuer)).check(ISS, StatusReference("https://evil/x", 1))
    assert excinfo.value.instance_code == "status_uri_untrusted"


def test_status_list_gzip_bomb_is_refused_while_decoding(issuer: LocalSigner) -> None:
    """A few kilobytes of gzip that would expand past the largest token we accept."""
    bomb = gzip.compress(b"A" * (check.MAX_TOKEN_BYTES + 1), mtime=0)
    assert len(bomb) < check.MAX_TOKEN_BYTES // 100
    seen: list[int] = []

    def hostile(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    trust = single_issuer(ISS, [{**issuer.public_jwk, "kid": issuer.kid}])
    cache = StatusListCache(trust, transport=httpx.MockTransport(hostile))
    with pytest.raises(ELicenseError) as excinfo:
        cache.check(ISS, StatusReference(URI, 3))
    assert seen
    assert excinfo.value.instance_code == "status_list_unreachable"
    assert "larger than allowed" in excinfo.value.message


def test_status_list_served_gzip_is_read(issuer: LocalSigner) -> None:
    body = gzip.compress(_status_token(issuer).encode(), mtime=0)
    trust = single_issuer(ISS, [{**issuer.public_jwk, "kid": issuer.kid}])
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})
    )
    cache = StatusListCache(trust, transport=transport)
    assert cache.check(ISS, StatusReference(URI, 3)) == 0


def test_status_list_refreshed_after_ttl(issuer: LocalSigner) -> None:
    cache = _cache(issuer, _status_token(issuer))
    cache.check(ISS, StatusReference(URI, 1))
    cache.check(ISS, StatusReference(URI, 2))
    assert cache.fetches == 1
    with clock.shifted(61):
        cache.check(ISS, StatusReference(URI, 1))
    assert cache.fetches == 2


def test_cached_only_never_fetches_and_honours_ttl(issuer: LocalSigner) -> None:
    cache = _cache(issuer, _status_token(issuer, revoked=2))
    cached = cache.cached_only()
    with pytest.raises(FetchNeeded):
        cached.check(ISS, StatusReference(URI, 1))
    assert cache.fetches == 0
    cache.check(ISS, StatusReference(URI, 1))  # the fetching checker fills the cache
    assert cached.check(ISS, StatusReference(URI, 1)) == 0
    with pytest.raises(ELicenseError) as excinfo:
        cached.check(ISS, StatusReference(URI, 2))
    assert excinfo.value.instance_code == "credential_revoked"
    with clock.shifted(61), pytest.raises(FetchNeeded):  # past the ttl: stale, no answer
        cached.check(ISS, StatusReference(URI, 1))
    assert cache.fetches == 1


def test_cached_only_runs_the_same_checks(issuer: LocalSigner) -> None:
    cache = _cache(issuer, _status_token(issuer, size=16))
    cache.check(ISS, StatusReference(URI, 1))
    cached = cache.cached_only()
    with pytest.raises(ELicenseError) as excinfo:
        cached.check(ISS, StatusReference(URI, 16))
    assert excinfo.value.instance_code == "status_index_out_of_range"
    with pytest.raises(ELicenseError) as excinfo:
        cached.check(ISS, StatusReference("https://evil/x", 1))
    assert excinfo.value.instance_code == "status_uri_untrusted"


@pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
def test_jwe_round_trip_and_tamper(enc: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwe.encrypt(b"secret", {**public_jwk(key), "kid": "k"}, enc=enc)
    assert jwe.decrypt(token, key)[1] == b"secret"
    parts = token.split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    with pytest.raises(ELicenseError) as excinfo:
        jwe.decrypt(".".join(parts), key)
    assert excinfo.value.instance_code == "jwe_decrypt_failed"
    with pytest.raises(ELicenseError):
        jwe.decrypt(token, ec.generate_private_key(ec.SECP256R1()))
