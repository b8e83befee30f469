"""GET /status/lists/{id} with content coding: gzip per representation (JWT and CWT),
distinct ETags, Vary, 304s, one compression per version, and the verifier's status
fetcher reading a gzip-served list."""

from __future__ import annotations

import dataclasses
import gzip
import random
import warnings
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from elicense.config import load_settings
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import IssuerKey, single_issuer
from elicense.errors import CredentialRevoked
from elicense.formats.sd_jwt_vc import StatusReference
from elicense.runtime import Runtime
from elicense.status import check, service
from elicense.status.api import EncodedCache, negotiate_encoding, router
from elicense.status.models import StatusListRow
from elicense.status.service import SignerSource
from elicense.status.token import CWT_MEDIA_TYPE, JWT_MEDIA_TYPE
from elicense.status.token_status_list import Status, StatusList
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.verification.status_cache import StatusListCache
from elicense.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

BASE_URL = "https://issuer.example.gov.cn"
VARY = "Accept, Accept-Encoding"
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


def _app(db: Database, signers: SignerSource) -> FastAPI:
    settings = load_settings({"ELICENSE_PUBLIC_BASE_URL": BASE_URL, "ELICENSE_DATA_DIR": "/tmp"})
    app = create_app(Runtime(settings=settings, db=db, sealer=Sealer.generate()))
    if not any(getattr(r, "path", "") == "/status/lists/{list_id}" for r in app.routes):
        app.include_router(router)
    app.state.status_signers = signers
    return app


@pytest.fixture
def app(fresh_db: Database, signers: SignerSource) -> FastAPI:
    return _app(fresh_db, signers)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _list(db: Database, data: bytes | None = None) -> tuple[str, int]:
    """A 2-bit list with one revoked entry (and ``data`` as its bits, when given)."""
    with db.transaction() as session:
        list_id = service.create_list(session, "marriage_license", signing_key="civil_affairs").id
        reference = service.allocate(session, list_id, f"enc-{list_id}", base_url=BASE_URL)
        service.set_status(session, list_id, reference.idx, Status.INVALID)
        if data is not None:
            row = session.get(StatusListRow, list_id)
            assert row is not None
            entries = StatusList(row.size, row.bits, data)
            entries[reference.idx] = Status.INVALID
            row.data, row.version = entries.to_bytes(), row.version + 1
    return list_id, reference.idx


def _random_revocations(seed: int, count: int = 3000) -> bytes:
    entries = StatusList(service.DEFAULT_LIST_SIZE, service.DEFAULT_BITS)
    for index in random.Random(seed).sample(range(entries.size), count):
        entries[index] = Status.INVALID
    return entries.to_bytes()


def _periodic() -> bytes:
    """Bytes 01 04 10 40 repeated: Z_RLE (runs of one byte) cannot shrink the pattern,
    gzip's back-references can, so the CWT form gains from gzip too."""
    size = service.DEFAULT_LIST_SIZE * service.DEFAULT_BITS // 8
    return bytes([0x01, 0x04, 0x10, 0x40]) * (size // 4)


@dataclasses.dataclass(frozen=True)
class Sent:
    """A response as it went on the wire: status, headers and the body not decoded."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def _raw(client: TestClient, path: str, headers: dict[str, str]) -> Sent:
    with client.stream("GET", path, headers=headers) as response:
        return Sent(response.status_code, response.headers, b"".join(response.iter_raw()))


def _path(list_id: str) -> str:
    return f"/status/lists/{list_id}"


@pytest.mark.parametrize(
    ("accept", "data"),
    [(JWT_MEDIA_TYPE, "random"), (CWT_MEDIA_TYPE, "periodic")],
)
def test_gzip_representation_has_its_own_etag_and_varies(
    client: TestClient,
    fresh_db: Database,
    issuer_keys: list[IssuerKey],
    accept: str,
    data: str,
) -> None:
    bits = _random_revocations(7) if data == "random" else _periodic()
    list_id, idx = _list(fresh_db, bits)
    identity = _raw(client, _path(list_id), {"Accept": accept, **IDENTITY})
    coded = _raw(client, _path(list_id), {"Accept": accept, **GZIP})
    assert identity.status_code == coded.status_code == 200
    assert "content-encoding" not in identity.headers
    assert coded.headers["content-encoding"] == "gzip"
    assert coded.headers["content-type"] == identity.headers["content-type"] == accept
    assert identity.headers["vary"] == coded.headers["vary"] == VARY
    assert coded.headers["cache-control"] == identity.headers["cache-control"]
    assert coded.headers["etag"] == identity.headers["etag"][:-1] + '-gzip"'
    assert len(coded.content) < len(identity.content)
    assert gzip.decompress(coded.content) == identity.content
    assert int(coded.headers["content-length"]) == len(coded.content)
    token = gzip.decompress(coded.content)
    claim = {"status_list": {"idx": idx, "uri": BASE_URL + _path(list_id)}}
    assert check.read_status(token, claim, issuer_keys) == Status.INVALID


@pytest.mark.parametrize("accept", [JWT_MEDIA_TYPE, CWT_MEDIA_TYPE])
def test_304_only_for_the_selected_representations_etag(
    client: TestClient, fresh_db: Database, accept: str
) -> None:
    list_id, _ = _list(
        fresh_db, _random_revocations(8) if accept == JWT_MEDIA_TYPE else _periodic()
    )
    path = _path(list_id)
    identity_etag = client.get(path, headers={"Accept": accept, **IDENTITY}).headers["etag"]
    gzip_etag = client.get(path, headers={"Accept": accept, **GZIP}).headers["etag"]
    assert identity_etag != gzip_etag

    for coding, etag in ((GZIP, gzip_etag), (IDENTITY, identity_etag)):
        matched = _raw(client, path, {"Accept": accept, **coding, "If-None-Match": etag})
        assert matched.status_code == 304
        assert matched.content == b""
        assert matched.headers["etag"] == etag
        assert matched.headers["vary"] == VARY
        assert matched.headers["cache-control"].startswith("public, max-age=")
        assert "content-encoding" not in matched.headers
    # the other representation's tag does not validate this one
    crossed = client.get(path, headers={"Accept": accept, **GZIP, "If-None-Match": identity_etag})
    assert crossed.status_code == 200
    assert crossed.headers["etag"] == gzip_etag
    crossed = client.get(path, headers={"Accept": accept, **IDENTITY, "If-None-Match": gzip_etag})
    assert crossed.status_code == 200
    assert crossed.headers["etag"] == identity_etag


def test_a_new_version_is_a_new_gzip_etag(client: TestClient, fresh_db: Database) -> None:
    list_id, _ = _list(fresh_db, _random_revocations(9))
    first = client.get(_path(list_id), headers=GZIP).headers["etag"]
    with fresh_db.transaction() as session:
        for attempt in range(20):  # an index the random revocations left valid
            other = service.allocate(session, list_id, f"enc{attempt}-{list_id}", base_url=BASE_URL)
            if service.get_status(session, list_id, other.idx) is Status.VALID:
                break
        service.set_status(session, list_id, other.idx, Status.SUSPENDED)
    changed = client.get(_path(list_id), headers={**GZIP, "If-None-Match": first})
    assert changed.status_code == 200
    assert changed.headers["etag"] != first
    assert changed.headers["etag"].endswith('-gzip"')


def test_no_gain_no_coding_but_still_vary(client: TestClient, fresh_db: Database) -> None:
    """Random bytes: the CWT cannot shrink, gzip would grow it, so it goes plain."""
    size = service.DEFAULT_LIST_SIZE * service.DEFAULT_BITS // 8
    list_id, _ = _list(fresh_db, random.Random(12).randbytes(size))
    response = _raw(client, _path(list_id), {"Accept": CWT_MEDIA_TYPE, **GZIP})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert not response.headers["etag"].endswith('-gzip"')
    assert response.headers["vary"] == VARY
    assert len(gzip.compress(response.content, mtime=0)) >= len(response.content)


def test_each_version_is_compressed_once(
    client: TestClient, app: FastAPI, fresh_db: Database
) -> None:
    list_id, _ = _list(fresh_db, _random_revocations(10))
    bodies = {_raw(client, _path(list_id), GZIP).content for _ in range(5)}
    assert len(bodies) == 1
    cache = app.state.status_encoded
    assert isinstance(cache, EncodedCache)
    assert cache.encodings == 1
    _raw(client, _path(list_id), {"Accept": CWT_MEDIA_TYPE, **GZIP})
    assert cache.encodings == 2  # the other form is another representation


def test_gzip_output_is_deterministic() -> None:
    cache_a, cache_b = EncodedCache(), EncodedCache()
    token = b"eyJ" + bytes(range(48, 123)) * 40
    assert cache_a.encoded("sl_x", '"v1"', "gzip", token) == cache_b.encoded(
        "sl_x", '"v1"', "gzip", token
    )


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip, deflate, br", "gzip"),
        ("GZIP;q=0.5", "gzip"),
        ("*", "gzip"),
        ("deflate", "identity"),
        ("identity", "identity"),
        ("gzip;q=0", "identity"),
        ("*;q=0", "identity"),
        ("gzip;q=0.4, identity;q=0.8", "identity"),
        ("gzip;q=0.8, identity;q=0.4", "gzip"),
        ("br;q=1, *;q=0.1", "gzip"),
    ],
)
def test_accept_encoding_negotiation(header: str | None, coding: str) -> None:
    assert negotiate_encoding(header) == coding


class _WireTransport(httpx.BaseTransport):
    """Sends the verifier's requests to the app and returns the bytes as sent (gzip
    stays gzip, for httpx in the status cache to decode)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.codings: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        response = _raw(self.client, request.url.path, headers)
        self.codings.append(response.headers.get("content-encoding"))
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )


def test_the_verifiers_status_cache_reads_a_gzip_served_list(
    client: TestClient, fresh_db: Database, issuer_signer: LocalSigner
) -> None:
    list_id, idx = _list(fresh_db, _random_revocations(11))
    trust = single_issuer(BASE_URL, [{**issuer_signer.public_jwk, "kid": issuer_signer.kid}])
    wire = _WireTransport(client)
    cache = StatusListCache(trust, transport=wire)
    try:
        uri = BASE_URL + _path(list_id)
        with pytest.raises(CredentialRevoked):
            cache.check(BASE_URL, StatusReference(uri=uri, idx=idx))
        bits = StatusList(service.DEFAULT_LIST_SIZE, service.DEFAULT_BITS, _random_revocations(11))
        valid_idx = next(i for i in range(bits.size) if bits[i] == Status.VALID and i != idx)
        assert cache.check(BASE_URL, StatusReference(uri=uri, idx=valid_idx)) is Status.VALID
    finally:
        cache.close()
    assert wire.codings == ["gzip"]  # fetched once, gzip on the wire
