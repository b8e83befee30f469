"""Proofing sessions end to end over HTTP, on real faces, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from face_data import photo, video_frames
from fastapi.testclient import TestClient

from elicense import clock
from elicense.config import load_settings
from elicense.errors import Conflict
from elicense.proofing import api as proofing_api
from elicense.proofing import service
from elicense.proofing.challenge import Action
from elicense.registry import resident_id
from elicense.registry import service as registry
from elicense.registry.types import SYSTEM, NewPerson, Role, Sex
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app

pytestmark = pytest.mark.faces

BLINK_VIDEO = ("video_blink_2.mp4", 30, 121, 6)
TURN_VIDEO = ("video_turn_1.mp4", 0, 281, 20)
PASSWORD = "correct horse battery staple 42"


class Env:
    def __init__(self, client: TestClient, db: Database, sealer: Sealer) -> None:
        self.client, self.db, self.sealer = client, db, sealer
        with db.transaction() as s:
            registry.create_clerk(s, username="reg1", role=Role.REGISTRAR, password=PASSWORD)
        reply = client.post("/registry/auth/token", json={"username": "reg1", "password": PASSWORD})
        self.clerk = {"Authorization": f"Bearer {reply.json()['access_token']}"}

    def person(self, sequence: int) -> tuple[str, str]:
        number = resident_id.generate(
            birth_date=dt.date(1990, 3, 7), sex=Sex.MALE, sequence=sequence * 2 + 1
        )
        new = NewPerson(number, "陈明", "Chen Ming", Sex.MALE, dt.date(1990, 3, 7))
        with self.db.transaction() as s:
            return registry.create_person(s, self.sealer, new).id, number

    def enrol(self, person_id: str, image: bytes) -> int:
        files = {"photo": ("id.jpg", image, "image/jpeg")}
        url = f"/proofing/enrolments/{person_id}"
        return self.client.post(url, files=files, headers=self.clerk).status_code

    def session_with(self, number: str, actions: tuple[Action, ...]) -> service.SessionView:
        """Start real (random) sessions until one asks for ``actions``."""
        for _ in range(300):
            with self.db.transaction() as s:
                view = service.start_session(s, self.sealer, number, "tests")
            if view.actions == tuple(str(a) for a in actions):
                return view
        raise AssertionError("no matching challenge in 300 draws")

    def send(
        self, session_id: str, frames: tuple[bytes, ...], interval: float
    ) -> dict[str, object]:
        start = clock.epoch() - 1.0
        times = [start + i * interval for i in range(len(frames))]
        files = [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
        reply = self.client.post(
            f"/proofing/sessions/{session_id}/frames",
            files=files,
            data={"captured_at": json.dumps(times)},
        )
        body: dict[str, object] = reply.json()
        body["http_status"] = reply.status_code
        return body


@pytest.fixture
def env(fresh_db: Database, tmp_path: Path) -> Iterator[Env]:
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    sealer = Sealer.generate()
    with TestClient(create_app(Runtime(settings, fresh_db, sealer))) as client:
        yield Env(client, fresh_db, sealer)


def _blink() -> tuple[bytes, ...]:
    name, start, stop, step = BLINK_VIDEO
    return video_frames(name, start, stop, step)


def _enrolled(env: Env, sequence: int, video: str = BLINK_VIDEO[0]) -> tuple[str, str]:
    person_id, number = env.person(sequence)
    assert env.enrol(person_id, video_frames(video, 0, 1, 1)[0]) == 204
    return person_id, number


def test_live_blink_session_succeeds_once_and_cannot_be_replayed(env: Env) -> None:
    person_id, number = _enrolled(env, 1)
    started = env.client.post("/proofing/sessions", json={"id_number": number})
    assert started.status_code == 201
    assert len(started.json()["actions"]) == 2
    view = env.session_with(number, (Action.BLINK, Action.BLINK))
    result = env.send(view.id, _blink(), BLINK_VIDEO[3] / 30)
    assert result["status"] == "succeeded", result
    verified_id = result["verified_identity_id"]
    assert isinstance(verified_id, str)

    again = env.send(view.id, _blink(), BLINK_VIDEO[3] / 30)
    assert again["http_status"] == 409
    assert again["code"] == "session_used"

    other = env.session_with(number, (Action.BLINK, Action.BLINK))
    replay = env.send(other.id, _blink(), BLINK_VIDEO[3] / 30)
    assert replay["http_status"] == 422
    assert replay["code"] == "replayed_frames"
    assert env.client.get(f"/proofing/sessions/{other.id}").json()["status"] == "failed"

    with env.db.transaction() as s:
        record = service.consume_verified_identity(s, verified_id)
    assert record.person_id == person_id
    assert record.method == "face"
    with pytest.raises(Conflict), env.db.transaction() as s:
        service.consume_verified_identity(s, verified_id)


def test_blink_video_fails_a_turn_challenge(env: Env) -> None:
    _, number = _enrolled(env, 2)
    view = env.session_with(number, (Action.TURN_LEFT, Action.TURN_RIGHT))
    result = env.send(view.id, _blink(), BLINK_VIDEO[3] / 30)
    assert result["status"] == "failed"
    assert "actions_not_performed" in result["reasons"]  # type: ignore[operator]
    assert result["verified_identity_id"] is None


def test_someone_else_in_front_of_the_camera_is_a_mismatch(env: Env) -> None:
    _, number = _enrolled(env, 3, video=TURN_VIDEO[0])
    view = env.session_with(number, (Action.BLINK, Action.BLINK))
    result = env.send(view.id, _blink(), BLINK_VIDEO[3] / 30)
    assert result["status"] == "failed"
    assert "face_mismatch" in result["reasons"]  # type: ignore[operator]


def test_five_failures_lock_the_number_until_a_registrar_unlocks(env: Env) -> None:
    _, number = _enrolled(env, 4)
    still = (photo("person_a_1.jpg"),) * 10
    for attempt in range(5):
        started = env.client.post("/proofing/sessions", json={"id_number": number})
        assert started.status_code == 201, attempt
        frames = tuple(still[0] + bytes([i, attempt]) for i in range(10))
        result = env.send(started.json()["id"], frames, 0.2)
        assert result["status"] == "failed"
    locked = env.client.post("/proofing/sessions", json={"id_number": number})
    assert locked.status_code == 423
    assert locked.json()["code"] == "identity_locked"
    assert env.client.post("/proofing/locks/unlock", json={"id_number": number}).status_code == 401
    unlocked = env.client.post(
        "/proofing/locks/unlock", json={"id_number": number}, headers=env.clerk
    )
    assert unlocked.status_code == 204
    assert env.client.post("/proofing/sessions", json={"id_number": number}).status_code == 201


def test_garbage_frame_is_a_clear_error_and_fails_the_session(env: Env) -> None:
    _, number = _enrolled(env, 5)
    session_id = env.client.post("/proofing/sessions", json={"id_number": number}).json()["id"]
    frames = (*_blink()[:9], b"this is not a jpeg")
    result = env.send(session_id, frames, 0.2)
    assert result["http_status"] == 400
    assert result["code"] == "undecodable_image"
    assert env.client.get(f"/proofing/sessions/{session_id}").json()["status"] == "failed"


def test_malformed_uploads_are_problems(env: Env) -> None:
    _, number = _enrolled(env, 6)
    session_id = env.client.post("/proofing/sessions", json={"id_number": number}).json()["id"]
    no_frames = env.client.post(
        f"/proofing/sessions/{session_id}/frames", data={"captured_at": "[]"}
    )
    assert no_frames.status_code == 422
    assert no_frames.json()["code"] == "no_frames"
    bad_times = env.client.post(
        f"/proofing/sessions/{session_id}/frames",
        files=[("frames", ("a.jpg", b"x", "image/jpeg"))],
        data={"captured_at": "yesterday"},
    )
    assert bad_times.json()["code"] == "bad_capture_times"
    assert env.client.get(f"/proofing/sessions/{session_id}").json()["status"] == "pending"


def test_expired_session_is_refused(env: Env) -> None:
    _, number = _enrolled(env, 7)
    session_id = env.client.post("/proofing/sessions", json={"id_number": number}).json()["id"]
    with clock.shifted(3600):
        result = env.send(session_id, _blink(), 0.2)
    assert result["http_status"] == 409
    assert result["code"] == "session_expired"


def test_unknown_person_bad_number_and_missing_photo(env: Env) -> None:
    unknown = resident_id.generate(sequence=999)
    reply = env.client.post("/proofing/sessions", json={"id_number": unknown})
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    bad = env.client.post("/proofing/sessions", json={"id_number": "110101199003074510"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "id_number_checksum"
    _, number = env.person(8)
    missing = env.client.post("/proofing/sessions", json={"id_number": number})
    assert missing.json()["code"] == "no_reference_photo"


def test_enrolment_needs_a_registrar_and_a_usable_photo(env: Env) -> None:
    person_id, _ = env.person(9)
    files = {"photo": ("id.jpg", photo("person_b_1.jpg"), "image/jpeg")}
    assert env.client.post(f"/proofing/enrolments/{person_id}", files=files).status_code == 401
    assert env.enrol(person_id, b"\xff\xd8garbage") == 400
    assert env.enrol(person_id, photo("person_b_1.jpg")) == 204


def test_in_person_check_by_a_registrar_yields_a_verified_identity(env: Env) -> None:
    person_id, _ = env.person(10)
    reply = env.client.post(
        "/proofing/in-person-checks", json={"person_id": person_id}, headers=env.clerk
    )
    assert reply.status_code == 201
    assert reply.json()["method"] == "in_person"
    with env.db.transaction() as s:
        assert service.consume_verified_identity(s, reply.json()["id"]).person_id == person_id


def test_rate_limit_per_client(env: Env) -> None:
    unknown = resident_id.generate(sequence=997)
    window = (clock.epoch() // 60 + 1) * 60  # all requests inside one fixed window
    with clock.frozen(window + 1):
        codes = [
            env.client.post("/proofing/sessions", json={"id_number": unknown}).status_code
            for _ in range(proofing_api.RATE_LIMIT_PER_MINUTE + 1)
        ]
    assert codes[:-1] == [404] * proofing_api.RATE_LIMIT_PER_MINUTE
    assert codes[-1] == 429
    with clock.frozen(window + 61):  # the next window starts afresh
        assert env.client.post("/proofing/sessions", json={"id_number": unknown}).status_code == 404


def test_nothing_biometric_or_personal_is_stored_or_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    _, number = _enrolled(env, 11)
    view = env.session_with(number, (Action.BLINK, Action.BLINK))
    env.send(view.id, _blink(), BLINK_VIDEO[3] / 30)
    assert number not in caplog.text
    with env.db.transaction() as s:
        from elicense.proofing.models import ProofingSession

        row = s.get(ProofingSession, view.id)
        assert row is not None
        stored = json.dumps([row.challenge, row.decision])
    assert number not in stored
    assert "embedding" not in stored
    assert SYSTEM.id  # the registry's system actor exists for clerkless paths
