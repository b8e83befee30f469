"""Where the response path runs: on the event loop with group commit (SQLite), in the
response pool (PostgreSQL). Responses that arrive together are each recorded once, a
request is answered once even within one group, a failed write records nothing, a
write lock held elsewhere is waited for off the loop (and the response only comes once
the outcome is stored), and a stale status list is fetched again, off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from verification_support import MARRIAGE, Env, create, post_vp, result, vp_form

from elicense import clock
from elicense.status.token_status_list import Status
from elicense.verification import service
from elicense.verification.models import (
    VerificationHistory,
    VerificationRequest,
    VerificationWebhookDelivery,
)


def _post_together(env: Env, posts: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    """POST every form from one event loop at once (they reach the app together)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            responses = await asyncio.gather(*(c.post(path, data=form) for path, form in posts))
        for _ in range(3):  # let the loop give its connection back before it closes
            await asyncio.sleep(0)
        return list(responses)

    return asyncio.run(run())


def _states(env: Env, request_ids: list[str]) -> dict[str, str]:
    with env.db.transaction() as session:
        rows = session.execute(
            select(VerificationRequest.id, VerificationRequest.state).where(
                VerificationRequest.id.in_(request_ids)
            )
        )
        return {rid: state for rid, state in rows}


def _history_count(env: Env, request_ids: list[str]) -> int:
    with env.db.transaction() as session:
        rows = session.scalars(
            select(VerificationHistory.request_id).where(
                VerificationHistory.request_id.in_(request_ids)
            )
        ).all()
    return len(rows)


def test_responses_arriving_together_are_each_recorded_once(
    env: Env, bank: service.Registered
) -> None:
    warm = create(env, bank)
    assert post_vp(env, warm, env.credential("marriage_license", MARRIAGE)).status_code == 200
    created = [create(env, bank) for _ in range(5)]
    posts = [vp_form(env, c, env.credential("marriage_license", MARRIAGE)) for c in created]
    duplicate = vp_form(env, created[0], env.credential("marriage_license", MARRIAGE))
    responses = _post_together(env, [*posts, duplicate])
    codes = [r.status_code for r in responses]
    assert codes[1:5] == [200] * 4
    # the first request and its duplicate race: exactly one of them is recorded (which
    # one is the order their writes reach the database in), the other gets its 409
    assert sorted((codes[0], codes[5])) == [200, 409]
    loser = responses[0] if codes[0] == 409 else responses[5]
    assert loser.json()["code"] == "request_already_answered"
    for c in created:
        body = result(env, bank, c).json()
        assert (body["outcome"], body["request_id"]) == ("verified", c["id"])
    assert _history_count(env, [c["id"] for c in created]) == 5


def test_a_failed_write_records_nothing(env: Env, bank: service.Registered) -> None:
    warm = create(env, bank)
    assert post_vp(env, warm, env.credential("marriage_license", MARRIAGE)).status_code == 200
    created = [create(env, bank) for _ in range(3)]
    posts = [vp_form(env, c, env.credential("marriage_license", MARRIAGE)) for c in created]
    with env.db.engine.begin() as conn:  # the history insert will fail
        conn.execute(text("DROP TABLE verification_history"))
    responses = _post_together(env, posts)
    if env.db.dialect == "sqlite":  # one group: the driver's OperationalError
        assert [r.status_code for r in responses] == [503] * 3
        assert {r.json()["code"] for r in responses} == {"storage_unavailable"}
    else:  # PostgreSQL names a missing table a programming error: unexpected, 500
        assert [r.status_code for r in responses] == [500] * 3
    ids = [c["id"] for c in created]
    assert _states(env, ids) == dict.fromkeys(ids, "pending")  # the claims rolled back
    with env.db.transaction() as session:  # and the webhook deliveries with them
        deliveries = session.scalars(
            select(VerificationWebhookDelivery.id).where(
                VerificationWebhookDelivery.request_id.in_(ids)
            )
        ).all()
    assert deliveries == []


def test_response_waits_off_the_loop_for_a_write_lock_held_elsewhere(
    env: Env, bank: service.Registered
) -> None:
    if env.db.dialect != "sqlite":
        pytest.skip("SQLite's write lock")
    warm = create(env, bank)
    assert post_vp(env, warm, env.credential("marriage_license", MARRIAGE)).status_code == 200
    created = create(env, bank)
    path, form = vp_form(env, created, env.credential("marriage_license", MARRIAGE))
    database = env.db.engine.url.database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    answered: list[Any] = []
    poster = threading.Thread(target=lambda: answered.append(env.client.post(path, data=form)))
    try:
        poster.start()
        time.sleep(0.5)
        assert poster.is_alive()  # no answer before the outcome is stored
        assert env.client.get("/verification/jwks.json").status_code == 200  # loop is free
        (state,) = other.execute(
            "SELECT state FROM verification_requests WHERE id = ?", (created["id"],)
        ).fetchone()
        assert state == "pending"
    finally:
        other.execute("COMMIT")
        other.close()
        poster.join(timeout=30)
    assert answered[0].status_code == 200, answered[0].text
    assert result(env, bank, created).json()["outcome"] == "verified"


def test_stale_status_list_is_fetched_again(env: Env, bank: service.Registered) -> None:
    cache = env.ctx.verifier.status
    first = create(env, bank)
    assert post_vp(env, first, env.credential("marriage_license", MARRIAGE)).status_code == 200
    assert cache.fetches == 1  # type: ignore[attr-defined]
    revoked = env.credential("marriage_license", MARRIAGE, status=Status.INVALID)
    with clock.shifted(301):  # past the list's ttl (and the verifier's 300 s bound)
        created = create(env, bank)
        response = post_vp(env, created, revoked)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "credential_revoked"
    assert cache.fetches == 2  # type: ignore[attr-defined]
