"""The response path's fast lane: a plain Starlette endpoint and prepared statements.

The prepared statements must read and write exactly what the Core statements do (same
rows, same types on SQLite and PostgreSQL), claim a request once, and the route must
answer and be documented as the FastAPI route was.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from elicense.errors import Conflict, InvalidRequest, NotFound
from elicense.verification import service
from elicense.verification.models import VerificationHistory, VerificationRequest


def _auth(rp: service.Registered) -> tuple[str, str]:
    return rp.rp.id, rp.client_secret


def _create(env: Any, rp: service.Registered) -> str:
    response = env.client.post(
        "/verification/requests", json={"preset": "mortgage"}, auth=_auth(rp)
    )
    assert response.status_code == 201, response.text
    request_id: str = response.json()["id"]
    return request_id


def test_prepared_load_reads_what_core_reads(env: Any, bank: service.Registered) -> None:
    request_id = _create(env, bank)
    fast = service.load_pending_prepared(env.db.engine, env.ctx, request_id)
    with env.db.transaction() as session:
        core = service.load_pending(session, env.ctx, request_id)
    assert fast.expectation == core.expectation
    assert (fast.response_mode, fast.rp_id, fast.rp_name, fast.webhook_url) == (
        core.response_mode,
        core.rp_id,
        core.rp_name,
        core.webhook_url,
    )
    assert fast.decryption_key is None
    assert core.decryption_key is None


def test_prepared_load_of_unknown_request(env: Any) -> None:
    with pytest.raises(NotFound):
        service.load_pending_prepared(env.db.engine, env.ctx, "vpr_unknown")


def test_prepared_record_claims_once_with_history(env: Any, bank: service.Registered) -> None:
    request_id = _create(env, bank)
    pending = service.load_pending_prepared(env.db.engine, env.ctx, request_id)
    outcome = InvalidRequest("vp_token is missing", code="vp_token_malformed")
    result = service.record_prepared(env.db.engine, env.ctx, pending, outcome)
    assert result["outcome"] == "rejected"
    with pytest.raises(Conflict):
        service.record_prepared(env.db.engine, env.ctx, pending, outcome)
    with pytest.raises(Conflict):
        service.load_pending_prepared(env.db.engine, env.ctx, request_id)
    with env.db.transaction() as session:
        row = session.get(VerificationRequest, request_id)
        assert row is not None
        assert (row.state, row.error_code) == ("rejected", "vp_token_malformed")
        assert row.completed_at is not None
        assert row.completed_at.tzinfo is not None
        assert row.result_expires_at is not None
        assert row.result_expires_at > row.completed_at
        history = session.scalars(
            select(VerificationHistory).where(VerificationHistory.request_id == request_id)
        ).all()
    assert [(h.outcome, h.error_code, h.rp_id) for h in history] == [
        ("rejected", "vp_token_malformed", bank.rp.id)
    ]
    assert history[0].created_at == row.completed_at
    fetched = env.client.get(f"/verification/requests/{request_id}/result", auth=_auth(bank))
    assert fetched.status_code == 200
    assert fetched.json() == result


def test_response_route_refuses_a_non_form_body(env: Any) -> None:
    response = env.client.post(
        "/verification/responses/vpr_unknown",
        content=b"{}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "response_malformed"


def test_response_route_unknown_request(env: Any) -> None:
    response = env.client.post(
        "/verification/responses/vpr_unknown", data={"vp_token": "{}", "state": "vpr_unknown"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "request_not_found"


def test_response_route_is_documented_with_its_form(env: Any) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]
    post = paths["/verification/responses/{request_id}"]["post"]
    form = post["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert set(form["schema"]["properties"]) == {"vp_token", "state", "response"}
