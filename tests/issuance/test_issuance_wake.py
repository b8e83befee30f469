"""A registry write through the API wakes the life-event loop at once."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from elicense.issuance.events import EventLoop
from elicense.registry import service as registry
from elicense.registry.types import Role
from elicense.runtime import Runtime
from elicense.storage import outbox
from elicense.web.app import create_app

PASSWORD = "correct horse battery staple 42"


def _pending(runtime: Runtime) -> int:
    with runtime.db.transaction() as session:
        return len(outbox.pending(session, "issuance"))


def test_registry_write_wakes_the_event_loop(runtime: Runtime) -> None:
    assert runtime.catalog is not None
    with runtime.db.transaction() as session:
        registry.create_clerk(session, username="reg1", role=Role.REGISTRAR, password=PASSWORD)
    app = create_app(runtime)
    loop = EventLoop(runtime.db, runtime.catalog, interval=3600)  # polls only when woken
    app.state.event_loop = loop
    loop.start()
    try:
        with TestClient(app) as client:
            time.sleep(0.5)  # the loop's first pass at start has run
            token = client.post(
                "/registry/auth/token", json={"username": "reg1", "password": PASSWORD}
            ).json()["access_token"]
            person = client.post(
                "/registry/persons",
                json={
                    "id_number": "110101199003074514",
                    "name_zh": "王伟",
                    "name_latin": "Wang Wei",
                    "sex": "M",
                    "birth_date": "1990-03-07",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert person.status_code == 201, person.text
            deadline = time.monotonic() + 20  # far below the 3600 s poll interval
            while _pending(runtime) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _pending(runtime) == 0
    finally:
        loop.stop()
