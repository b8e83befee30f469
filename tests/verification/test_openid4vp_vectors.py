"""Every named OpenID4VP vector (``tests/vectors/openid4vp/``) is refused by the check it
is named after, with the code in its manifest; the baseline verifies.

The verifier is the one the platform builds (``Verifier`` with the trust list and a
``StatusListCache`` fetching the vectors' signed Status List Token over HTTP), the form
is decoded by ``service.decode_response`` and checked by ``verify_presentation``, with
the clock frozen a minute after the vectors were made.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from verification_support import CATALOG

from elicense import clock
from elicense.crypto.trust import TrustList
from elicense.errors import ELicenseError
from elicense.status.token import JWT_MEDIA_TYPE
from elicense.verification import service
from elicense.verification.checks import (
    Expectation,
    VerifiedPresentation,
    Verifier,
    verify_presentation,
)
from elicense.verification.policy import Grant
from elicense.verification.status_cache import StatusListCache

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "openid4vp"
MANIFEST: dict[str, dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())
SUPPORT_FILES = {"generate.py", "manifest.json", "trust.json", "status_list.jwt"}
BASELINE = "valid_presentation"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openid4vp_generate", VECTORS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


GEN = _generator()


class Refused(Exception):
    """A vector's outcome: the error's code and the failed check as reported."""

    def __init__(self, code: str, failed: dict[str, Any]) -> None:
        super().__init__(f"{failed['name']}: {code}")
        self.code, self.failed = code, failed


def _status_server(directory: Path) -> httpx.MockTransport:
    """The issuer's status endpoint: the vectors' signed token at ``GEN.STATUS_URI``."""
    token = (directory / "status_list.jwt").read_text().strip()

    def serve(request: httpx.Request) -> httpx.Response:
        if str(request.url) != GEN.STATUS_URI:
            return httpx.Response(404)
        return httpx.Response(200, text=token, headers={"Content-Type": JWT_MEDIA_TYPE})

    return httpx.MockTransport(serve)


def _pending(expected: dict[str, Any]) -> service.Pending:
    expectation = Expectation(
        request_id=expected["request_id"],
        client_id=expected["client_id"],
        nonce=expected["nonce"],
        purpose=expected["purpose"],
        sector=expected["sector"],
        region=expected["region"],
        grants=tuple(Grant.from_json(g) for g in expected["grants"]),
        query=GEN.PRESETS[expected["preset"]].query,
    )
    mode = expected["response_mode"]
    # the request's own decryption key: the vectors were never encrypted to it
    key = ec.generate_private_key(ec.SECP256R1()) if mode == "direct_post.jwt" else None
    return service.Pending(expectation, mode, key, "rp_vectors", "vectors", None)


def _verify(directory: Path, name: str, expected: dict[str, Any]) -> VerifiedPresentation:
    """Verify the vector ``name`` or raise :class:`Refused`."""
    body = (directory / f"{name}.txt").read_text().strip()
    form = dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))
    trust = TrustList.load(directory / "trust.json")
    status = StatusListCache(trust, transport=_status_server(directory))
    pending = _pending(expected)
    try:
        with clock.frozen(GEN.GENERATED_AT + 60):
            try:
                vp_token = service.decode_response(pending, form)
            except ELicenseError as exc:  # service.verify reports it as this check
                failed = {"name": "response", "ok": False, "code": exc.instance_code}
                raise Refused(exc.instance_code, failed) from exc
            verifier = Verifier(trust, CATALOG, status)
            try:
                return verify_presentation(vp_token, pending.expectation, verifier)
            except ELicenseError as exc:
                raise Refused(exc.instance_code, exc.extra["checks"][-1]) from exc
    finally:
        status.close()


def _assert_refused(directory: Path, name: str, entry: dict[str, Any]) -> None:
    with pytest.raises(Refused) as caught:
        _verify(directory, name, entry["expectation"])
    failed = {"name": entry["check"], "ok": False, "code": entry["code"]}
    assert caught.value.code == entry["code"], name
    assert {k: caught.value.failed.get(k) for k in failed} == failed, name


def _assert_baseline_verifies(directory: Path) -> None:
    verified = _verify(directory, BASELINE, GEN.BANK)
    (credential,) = verified.credentials
    holder, spouse = GEN.MARRIAGE["holder"], GEN.MARRIAGE["spouse"]
    assert credential.credential_type == "marriage_license"
    assert dict(credential.claims) == {
        "marital_status": "married",
        "holder": {"name": holder["name"], "id_number": holder["id_number"]},
        "spouse": {"name": spouse["name"], "id_number": spouse["id_number"]},
    }
    assert all(check.ok for check in verified.checks)
    assert [c.name for c in verified.checks] == [
        "vp_token",
        *("trust_list", "issuer_signature", "validity_window", "holder_binding"),
        *("status", "dcql", "disclosure", "rp_permission", "region"),
        "credential_sets",
    ]


def test_the_baseline_presentation_verifies() -> None:
    _assert_baseline_verifies(VECTORS)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_committed_vector_is_refused_by_its_check(name: str) -> None:
    _assert_refused(VECTORS, name, MANIFEST[name])


def test_every_file_is_in_the_manifest_and_every_entry_has_its_file() -> None:
    files = {p.name for p in VECTORS.iterdir() if p.is_file()}
    vectors = {name.removesuffix(".txt") for name in files if name.endswith(".txt")}
    assert files - SUPPORT_FILES == {f"{name}.txt" for name in vectors}
    assert files >= SUPPORT_FILES
    assert vectors - {BASELINE} == set(MANIFEST)


def test_the_status_list_and_trust_list_hold_public_keys_only() -> None:
    trust = json.loads((VECTORS / "trust.json").read_text())
    for issuer in trust["issuers"]:
        assert all("d" not in key for key in issuer["jwks"]["keys"])
    assert "PRIVATE" not in "".join(p.read_text() for p in VECTORS.iterdir() if p.is_file())


def test_regenerated_vectors_are_refused_by_the_same_checks(tmp_path: Path) -> None:
    manifest = GEN.generate(tmp_path)
    assert manifest == MANIFEST
    _assert_baseline_verifies(tmp_path)
    for name, entry in manifest.items():
        _assert_refused(tmp_path, name, entry)
