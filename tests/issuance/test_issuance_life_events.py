"""Life events: divorce revokes both licenses, re-marriage re-entitles, a new name revokes;
a crash between the status change and the commit is recovered (both backends)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from issuance_helpers import (
    BASE_URL,
    Holder,
    TestClient,
    identity_check,
    married_couple,
    new_person,
)
from test_issuance_flow import fetch_credentials, status_keys

from elicense.crypto.trust import single_issuer
from elicense.errors import CredentialRevoked
from elicense.formats.sd_jwt_vc import CredentialPolicy, verify_credential
from elicense.issuance import events
from elicense.issuance import service as issuance
from elicense.registry import service as registry
from elicense.registry.types import Sex
from elicense.runtime import Runtime
from elicense.status.check import check_status
from elicense.status.token_status_list import Status
from elicense.storage import outbox


def license_for(runtime: Runtime, client: TestClient, person_id: str) -> str:
    with runtime.db.transaction() as session:
        vid = identity_check(session, runtime.sealer, person_id)
    body = {"verified_identity_id": vid, "credential_configuration_ids": ["marriage_license"]}
    response = client.post("/issuance/offers", json=body)
    assert response.status_code == 201, response.text
    credentials, _ = fetch_credentials(Holder(client), response.json()["credential_offer"])
    return credentials[0]


def status_of(client: TestClient, credential: str) -> Status | str:
    trust = single_issuer(BASE_URL, client.get("/.well-known/jwks.json").json()["keys"])
    verified = verify_credential(credential, trust=trust, policy=CredentialPolicy())
    assert verified.status is not None
    token = client.get(verified.status.uri.removeprefix(BASE_URL)).content
    claim = {"status_list": {"idx": verified.status.idx, "uri": verified.status.uri}}
    try:
        return check_status(token, claim, status_keys(client))
    except CredentialRevoked:
        return "revoked"


def couple_with_licenses(runtime: Runtime, client: TestClient) -> tuple[str, str, str, list[str]]:
    with runtime.db.transaction() as session:
        a, b, marriage_id = married_couple(session, runtime.sealer)
    licenses = [license_for(runtime, client, a.id), license_for(runtime, client, b.id)]
    events.process_pending(runtime.db, _catalog(runtime))  # registration events: no effect
    return a.id, b.id, marriage_id, licenses


def _catalog(runtime: Runtime) -> Any:
    assert runtime.catalog is not None
    return runtime.catalog


def divorce(runtime: Runtime, marriage_id: str) -> None:
    with runtime.db.transaction() as session:
        registry.dissolve_marriage(session, marriage_id, office_code="HZSC")


def test_divorce_revokes_both_licenses(runtime: Runtime, client: TestClient) -> None:
    a, b, marriage_id, licenses = couple_with_licenses(runtime, client)
    assert [status_of(client, c) for c in licenses] == [Status.VALID, Status.VALID]
    divorce(runtime, marriage_id)
    outcomes = events.process_pending(runtime.db, _catalog(runtime))
    assert [o.event_type for o in outcomes] == ["marriage.dissolved"]
    assert len(outcomes[0].revoked) == 2
    assert [status_of(client, c) for c in licenses] == ["revoked", "revoked"]
    assert events.process_pending(runtime.db, _catalog(runtime)) == []
    with runtime.db.transaction() as session:
        states = {r.state for p in (a, b) for r in issuance.issued_credentials(session, p)}
    assert states == {"revoked"}


def test_divorced_person_is_refused_and_remarriage_offers_again(
    runtime: Runtime, client: TestClient
) -> None:
    a, _b, marriage_id, _ = couple_with_licenses(runtime, client)
    divorce(runtime, marriage_id)
    events.process_pending(runtime.db, _catalog(runtime))
    with runtime.db.transaction() as session:
        vid = identity_check(session, runtime.sealer, a)
    body = {"verified_identity_id": vid, "credential_configuration_ids": ["marriage_license"]}
    refused = client.post("/issuance/offers", json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_married"
    assert refused.json()["error"] == "credential_request_denied"
    with runtime.db.transaction() as session:
        c = new_person(session, runtime.sealer, Sex.FEMALE, "赵敏", "Zhao Min")
        registry.register_marriage(session, office_code="HZSC", spouse_ids=(a, c.id))
    events.process_pending(runtime.db, _catalog(runtime))
    new_license = license_for(runtime, client, a)
    assert status_of(client, new_license) is Status.VALID
    trust = single_issuer(BASE_URL, client.get("/.well-known/jwks.json").json()["keys"])
    claims = verify_credential(new_license, trust=trust, policy=CredentialPolicy()).claims
    assert claims["spouse"]["name"] == "赵敏"


def test_name_change_revokes_and_reissues_with_new_name(
    runtime: Runtime, client: TestClient
) -> None:
    a, _b, _m, licenses = couple_with_licenses(runtime, client)
    with runtime.db.transaction() as session:
        registry.update_person_name(
            session, runtime.sealer, a, name_zh="王小磊", name_latin="Wang Xiaolei"
        )
    outcomes = events.process_pending(runtime.db, _catalog(runtime))
    assert sum(len(o.revoked) for o in outcomes) == 1
    assert [status_of(client, c) for c in licenses] == ["revoked", Status.VALID]
    renewed = license_for(runtime, client, a)
    trust = single_issuer(BASE_URL, client.get("/.well-known/jwks.json").json()["keys"])
    assert (
        verify_credential(renewed, trust=trust, policy=CredentialPolicy()).claims["holder"]["name"]
        == "王小磊"
    )


def _run_processor(runtime: Runtime, crash: bool) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ELICENSE_DATABASE_URL": runtime.db.url,
        "ELICENSE_DATA_DIR": str(runtime.settings.data_dir),
        "ELICENSE_PUBLIC_BASE_URL": BASE_URL,
    }
    env.pop(events.CRASH_HOOK_ENV, None)
    if crash:
        env[events.CRASH_HOOK_ENV] = "status"
    code = (
        "from elicense.runtime import open_runtime\n"
        "from elicense.issuance.events import process_pending\n"
        "r = open_runtime()\n"
        "print(len(process_pending(r.db, r.catalog)))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_crash_between_status_change_and_commit_is_recovered(
    runtime: Runtime, client: TestClient
) -> None:
    a, b, marriage_id, licenses = couple_with_licenses(runtime, client)
    divorce(runtime, marriage_id)
    crashed = _run_processor(runtime, crash=True)
    assert crashed.returncode == 3, crashed.stderr
    # Nothing committed: the event is pending and both licenses still valid.
    with runtime.db.transaction() as session:
        assert [e.event_type for e in outbox.pending(session, events.CONSUMER)] == [
            "marriage.dissolved"
        ]
    assert [status_of(client, c) for c in licenses] == [Status.VALID, Status.VALID]
    recovered = _run_processor(runtime, crash=False)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.strip() == "1"
    assert [status_of(client, c) for c in licenses] == ["revoked", "revoked"]
    with runtime.db.transaction() as session:
        assert outbox.pending(session, events.CONSUMER) == []
        assert registry.marital_status(session, a).current is None
        states = {r.state for p in (a, b) for r in issuance.issued_credentials(session, p)}
    assert states == {"revoked"}
    again = _run_processor(runtime, crash=False)
    assert again.stdout.strip() == "0"


def test_events_process_command(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from elicense.issuance.cli import events_app

    _a, _b, marriage_id, licenses = couple_with_licenses(runtime, client)
    divorce(runtime, marriage_id)
    monkeypatch.setenv("ELICENSE_DATABASE_URL", runtime.db.url)
    monkeypatch.setenv("ELICENSE_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("ELICENSE_PUBLIC_BASE_URL", BASE_URL)
    result = CliRunner().invoke(events_app, [])
    assert result.exit_code == 0, result.output
    assert '"revoked": 2' in result.output
    assert [status_of(client, c) for c in licenses] == ["revoked", "revoked"]
