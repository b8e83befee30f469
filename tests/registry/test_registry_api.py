from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_factories import Factory

from elicense import clock
from elicense.config import load_settings
from elicense.registry import service
from elicense.registry.types import Role, Sex
from elicense.runtime import Runtime
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer
from elicense.web.app import create_app

with warnings.catch_warnings():
    # Starlette warns when the test client falls back to ``httpx`` (no ``httpx2``).
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PASSWORD = "a long enough password"
PROBLEM = "application/problem+json"


@pytest.fixture
def client(fresh_db: Database, sealer: Sealer, tmp_path: Path) -> Iterator[TestClient]:
    with fresh_db.transaction() as session:
        for role in Role:
            service.create_clerk(session, username=role.value, role=role, password=PASSWORD)
        Factory(session, sealer).office()
    settings = load_settings({"ELICENSE_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(Runtime(settings, fresh_db, sealer))) as test_client:
        yield test_client


def _auth(client: TestClient, role: Role) -> dict[str, str]:
    response = client.post(
        "/registry/auth/token", json={"username": role.value, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _person(sex: Sex, birth: dt.date = dt.date(1990, 4, 1)) -> dict[str, str]:
    from registry_factories import new_id_number

    return {
        "id_number": new_id_number(sex=sex, birth_date=birth),
        "name_zh": "刘洋" if sex is Sex.MALE else "周婷",
        "name_latin": "Liu Yang" if sex is Sex.MALE else "Zhou Ting",
        "sex": sex.value,
        "birth_date": birth.isoformat(),
    }


def _create(client: TestClient, headers: dict[str, str], body: dict[str, str]) -> dict[str, str]:
    response = client.post("/registry/persons", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, str] = response.json()
    return result


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code


def test_login_failure_and_missing_token_are_problems(client: TestClient) -> None:
    bad = client.post("/registry/auth/token", json={"username": "admin", "password": "nope"})
    _problem(bad, 401, "invalid_credentials")
    _problem(client.get("/registry/persons/per_x"), 401, "token_required")
    wrong = {"Authorization": "Bearer elr_not-a-token"}
    _problem(client.get("/registry/persons/per_x", headers=wrong), 401, "token_invalid")


def test_logout_revokes_the_token(client: TestClient) -> None:
    headers = _auth(client, Role.AUDITOR)
    assert client.delete("/registry/auth/token", headers=headers).status_code == 204
    _problem(client.get("/registry/audit", headers=headers), 401, "token_invalid")


def test_person_id_number_is_masked_except_for_registrars(client: TestClient) -> None:
    registrar, auditor = _auth(client, Role.REGISTRAR), _auth(client, Role.AUDITOR)
    body = _person(Sex.MALE)
    created = _create(client, registrar, body)
    assert created["id_number"] == body["id_number"]
    seen_by_registrar = client.get(f"/registry/persons/{created['id']}", headers=registrar)
    assert seen_by_registrar.json()["id_number"] == body["id_number"]
    seen_by_auditor = client.get(f"/registry/persons/{created['id']}", headers=auditor).json()
    number = body["id_number"]
    assert seen_by_auditor["id_number"] == number[:6] + "********" + number[14:]
    found = client.post(
        "/registry/persons/lookup", json={"id_number": number}, headers=auditor
    ).json()
    assert found["id"] == created["id"]
    assert found["id_number"] != number


def test_wrong_role_is_forbidden(client: TestClient) -> None:
    auditor = _auth(client, Role.AUDITOR)
    _problem(
        client.post("/registry/persons", json=_person(Sex.MALE), headers=auditor),
        403,
        "role_required",
    )
    registrar = _auth(client, Role.REGISTRAR)
    _problem(client.get("/registry/audit", headers=registrar), 403, "role_required")
    office = {"code": "NEW1", "name": "x", "region": "330106"}
    _problem(client.post("/registry/offices", json=office, headers=registrar), 403, "role_required")


def test_invalid_input_is_a_problem_with_a_code(client: TestClient) -> None:
    registrar = _auth(client, Role.REGISTRAR)
    body = _person(Sex.MALE)
    bad_checksum = {
        **body,
        "id_number": body["id_number"][:17] + ("0" if body["id_number"][17] != "0" else "1"),
    }
    _problem(
        client.post("/registry/persons", json=bad_checksum, headers=registrar),
        422,
        "id_number_checksum",
    )
    _problem(
        client.post("/registry/persons", json={**body, "sex": "F"}, headers=registrar),
        422,
        "id_number_sex_mismatch",
    )
    _problem(
        client.post("/registry/persons", json={"id_number": 1}, headers=registrar),
        422,
        "validation_failed",
    )
    _create(client, registrar, body)
    _problem(client.post("/registry/persons", json=body, headers=registrar), 409, "person_exists")
    _problem(client.get("/registry/persons/per_nope", headers=registrar), 404, "person_not_found")


def test_full_journey_book_confirm_register_divorce(client: TestClient) -> None:
    admin, registrar, auditor = (
        _auth(client, Role.ADMIN),
        _auth(client, Role.REGISTRAR),
        _auth(client, Role.AUDITOR),
    )
    start = clock.now().replace(microsecond=0) + dt.timedelta(days=2)
    slot = client.post(
        "/registry/offices/HZSC/slots",
        json={
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(minutes=30)).isoformat(),
            "capacity": 1,
        },
        headers=admin,
    )
    assert slot.status_code == 201, slot.text
    slot_id = slot.json()["id"]
    assert [s["id"] for s in client.get("/registry/slots?office_code=HZSC").json()] == [slot_id]
    man = _create(client, registrar, _person(Sex.MALE))
    woman = _create(client, registrar, _person(Sex.FEMALE))
    booked = client.post(
        "/registry/appointments",
        json={"slot_id": slot_id, "partner_id_numbers": [man["id_number"], woman["id_number"]]},
    )
    assert booked.status_code == 201, booked.text
    appointment_id = booked.json()["appointment"]["id"]
    codes = booked.json()["confirmation_codes"]
    assert client.get("/registry/slots?office_code=HZSC").json() == []
    others = [_create(client, registrar, _person(s)) for s in (Sex.MALE, Sex.FEMALE)]
    full = client.post(
        "/registry/appointments",
        json={"slot_id": slot_id, "partner_id_numbers": [p["id_number"] for p in others]},
    )
    _problem(full, 409, "slot_full")
    confirm = f"/registry/appointments/{appointment_id}/confirm"
    _problem(client.post(confirm, json={"code": "NOPE"}), 403, "confirmation_code_invalid")
    for code in codes:
        assert client.post(confirm, json={"code": code}).status_code == 200
    registered = client.post(f"/registry/appointments/{appointment_id}/marriage", headers=registrar)
    assert registered.status_code == 201, registered.text
    marriage = registered.json()
    assert marriage["certificate_number"].startswith(f"J330106-{clock.today().year}-")
    status = client.get(f"/registry/persons/{man['id']}/marital-status", headers=auditor).json()
    assert status["state"] == "married"
    again = client.post(
        "/registry/marriages",
        json={"office_code": "HZSC", "spouse_ids": [man["id"], others[1]["id"]]},
        headers=registrar,
    )
    _problem(again, 409, "already_married")
    dissolved = client.post(
        f"/registry/marriages/{marriage['id']}/dissolution",
        json={"office_code": "HZSC"},
        headers=registrar,
    )
    assert dissolved.status_code == 200, dissolved.text
    assert dissolved.json()["active"] is False
    remarried = client.post(
        "/registry/marriages",
        json={"office_code": "HZSC", "spouse_ids": [man["id"], others[1]["id"]]},
        headers=registrar,
    )
    assert remarried.status_code == 201, remarried.text
    history = client.get(f"/registry/persons/{man['id']}/marital-status", headers=auditor).json()
    assert [m["active"] for m in history["history"]] == [False, True]
    audit = client.get("/registry/audit", headers=auditor).json()
    actions = {entry["action"] for entry in audit}
    assert {"marriage.register", "marriage.dissolve", "appointment.book"} <= actions
    assert man["id_number"] not in str(audit)


def test_cancel_and_reschedule_through_the_api(client: TestClient) -> None:
    admin, registrar = _auth(client, Role.ADMIN), _auth(client, Role.REGISTRAR)
    slot_ids = []
    for days in (1, 2):
        start = clock.now().replace(microsecond=0) + dt.timedelta(days=days)
        body = {
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(minutes=30)).isoformat(),
            "capacity": 2,
        }
        slot_ids.append(
            client.post("/registry/offices/HZSC/slots", json=body, headers=admin).json()["id"]
        )
    man = _create(client, registrar, _person(Sex.MALE))
    woman = _create(client, registrar, _person(Sex.FEMALE))
    booked = client.post(
        "/registry/appointments",
        json={"slot_id": slot_ids[0], "partner_id_numbers": [man["id_number"], woman["id_number"]]},
    ).json()
    appointment_id = booked["appointment"]["id"]
    moved = client.post(
        f"/registry/appointments/{appointment_id}/reschedule",
        json={"slot_id": slot_ids[1], "code": booked["confirmation_codes"][0]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["reschedules"] == [[slot_ids[0], slot_ids[1]]]
    _problem(
        client.post(f"/registry/appointments/{appointment_id}/cancel", json={}),
        403,
        "confirmation_code_required",
    )
    cancelled = client.post(
        f"/registry/appointments/{appointment_id}/cancel", json={}, headers=registrar
    )
    assert cancelled.json()["status"] == "cancelled"


def test_openapi_lists_the_registry_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/registry/persons" in paths
    assert "/registry/appointments/{appointment_id}/confirm" in paths


def test_public_booking_and_login_are_rate_limited(client: TestClient) -> None:
    from elicense.registry import api as registry_api

    window = (clock.epoch() // 60 + 1) * 60  # all requests inside one fixed window
    with clock.frozen(window + 1):
        codes = [
            client.post("/registry/appointments", json={}).status_code
            for _ in range(registry_api.PUBLIC_PER_MINUTE + 1)
        ]
        logins = [
            client.post("/registry/auth/token", json={"username": "x", "password": "y"}).status_code
            for _ in range(registry_api.LOGIN_PER_MINUTE + 1)
        ]
        assert client.post("/registry/auth/token", json={}).json()["code"] == "rate_limited"
    assert codes[-1] == 429
    assert set(codes[:-1]) == {422}
    assert logins[-1] == 429
