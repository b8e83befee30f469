"""A request's transaction commits before its response is sent.

Otherwise a client's next request (to any worker) may not see the write, and a failed
commit would be lost after a success response. The order is observed directly: the
session's ``after_commit`` event against the ASGI ``http.response.start`` message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from elicense.config import load_settings
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app
from elicense.web.deps import SessionDep

Events = list[str]


@pytest.fixture
def recorded(fresh_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Events]]:
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    app = create_app(Runtime(settings, fresh_db, Sealer.generate()))
    events: Events = []
    probe = APIRouter()

    @probe.post("/probe/write")
    def write(session: SessionDep) -> dict[str, str]:
        session.execute(text("SELECT 1"))
        return {"ok": "written"}

    app.include_router(probe)

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def send_and_record(message: Any) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, send_and_record)

    def on_commit(_session: Session) -> None:
        events.append("commit")

    event.listen(Session, "after_commit", on_commit)
    try:
        with TestClient(watched) as client:
            yield client, events
    finally:
        event.remove(Session, "after_commit", on_commit)


def test_commit_happens_before_the_response(recorded: tuple[TestClient, Events]) -> None:
    client, events = recorded
    events.clear()
    assert client.post("/probe/write").status_code == 200
    assert events == ["commit", "response"]
