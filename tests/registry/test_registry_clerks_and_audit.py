from __future__ import annotations

import datetime as dt

import pytest
from registry_factories import Factory
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from elicense import clock
from elicense.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from elicense.registry import audit, service
from elicense.registry.models import AuditEntry
from elicense.registry.types import Role

PASSWORD = "correct horse battery"


def _code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc.value, "instance_code", ""))


def test_create_authenticate_and_token_round_trip(session: Session) -> None:
    clerk = service.create_clerk(
        session, username="li.registrar", role=Role.REGISTRAR, password=PASSWORD
    )
    assert service.authenticate(session, "li.registrar", PASSWORD) == clerk
    issued = service.login(session, "li.registrar", PASSWORD)
    assert issued.token.startswith("elr_")
    actor = service.actor_for_token(session, issued.token)
    assert (actor.id, actor.role, actor.username) == (clerk.id, Role.REGISTRAR, "li.registrar")
    service.revoke_token(session, issued.token, actor=actor)
    with pytest.raises(Unauthorized) as info:
        service.actor_for_token(session, issued.token)
    assert _code(info) == "token_invalid"


def test_password_is_stored_as_argon2(session: Session) -> None:
    from elicense.registry.models import Clerk

    service.create_clerk(session, username="wang", role=Role.AUDITOR, password=PASSWORD)
    row = session.query(Clerk).filter_by(username="wang").one()
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("liu", "wrong password!", id="wrong_password"),
        pytest.param("nobody", PASSWORD, id="unknown_user"),
        pytest.param("zhou", PASSWORD, id="deactivated"),
    ],
)
def test_bad_credentials_get_one_error(session: Session, username: str, password: str) -> None:
    service.create_clerk(session, username="liu", role=Role.ADMIN, password=PASSWORD)
    service.create_clerk(session, username="zhou", role=Role.ADMIN, password=PASSWORD)
    service.deactivate_clerk(session, "zhou")
    with pytest.raises(Unauthorized) as info:
        service.authenticate(session, username, password)
    assert _code(info) == "invalid_credentials"


def test_tokens_expire_and_deactivation_stops_them(session: Session) -> None:
    service.create_clerk(session, username="zhao", role=Role.REGISTRAR, password=PASSWORD)
    short = service.login(session, "zhao", PASSWORD, ttl=dt.timedelta(minutes=5))
    with clock.shifted(301), pytest.raises(Unauthorized) as info:
        service.actor_for_token(session, short.token)
    assert _code(info) == "token_expired"
    token = service.login(session, "zhao", PASSWORD).token
    service.deactivate_clerk(session, "zhao")
    with pytest.raises(Unauthorized):
        service.actor_for_token(session, token)
    with pytest.raises(Unauthorized):
        service.actor_for_token(session, "elr_made-up")


def test_clerk_validation(session: Session) -> None:
    service.create_clerk(session, username="qian", role=Role.REGISTRAR, password=PASSWORD)
    with pytest.raises(Conflict) as info:
        service.create_clerk(session, username="qian", role=Role.AUDITOR, password=PASSWORD)
    assert _code(info) == "clerk_exists"
    with pytest.raises(ValidationFailed) as info:
        service.create_clerk(session, username="Q!", role=Role.AUDITOR, password=PASSWORD)
    assert _code(info) == "username_invalid"
    with pytest.raises(ValidationFailed) as info:
        service.create_clerk(session, username="sun", role=Role.AUDITOR, password="short")
    assert _code(info) == "password_too_short"


def test_require_role() -> None:
    registrar = service.Actor("clk_1", Role.REGISTRAR)
    service.require_role(registrar, Role.REGISTRAR, Role.ADMIN)
    with pytest.raises(Forbidden) as info:
        service.require_role(registrar, Role.AUDITOR)
    assert _code(info) == "role_required"
    with pytest.raises(Forbidden):
        service.require_role(service.PUBLIC, Role.AUDITOR)


def test_clerk_actions_are_audited_with_ids_only(make: Factory, session: Session) -> None:
    clerk = service.create_clerk(
        session, username="audit.me", role=Role.REGISTRAR, password=PASSWORD
    )
    make.office()
    man, woman = make.couple()
    marriage = service.register_marriage(
        session, office_code="HZSC", spouse_ids=(man.id, woman.id), actor=clerk.actor
    )
    session.flush()
    entries = service.audit_entries(session, target_id=marriage.id)
    assert [(e.actor, e.action, e.target_type) for e in entries] == [
        (clerk.id, "marriage.register", "marriage")
    ]
    assert entries[0].details["person_ids"] == [man.id, woman.id]
    everything = repr(service.audit_entries(session, limit=500))
    for secret in (man.id_number, woman.id_number, man.name_zh, woman.name_latin):
        assert secret not in everything


def test_audit_log_is_append_only(session: Session) -> None:
    audit.record(session, service.SYSTEM, "test.action", "thing", "thing_1")
    session.flush()
    entry_id = service.audit_entries(session, limit=1)[0].id
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(action="forged"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(delete(AuditEntry).where(AuditEntry.id == entry_id))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM registry_audit_log"))
    assert service.audit_entries(session, limit=1)[0].action == "test.action"


def test_audit_pages_newest_first(session: Session) -> None:
    for n in range(5):
        audit.record(session, service.SYSTEM, "page.test", "thing", f"t{n}")
    session.flush()
    first = service.audit_entries(session, limit=2, action="page.test")
    rest = service.audit_entries(session, limit=10, action="page.test", before_id=first[-1].id)
    assert [e.target_id for e in first + rest] == ["t4", "t3", "t2", "t1", "t0"]
