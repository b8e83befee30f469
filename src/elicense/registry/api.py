"""HTTP API of the registry of record (thin: parse, authorize, call :mod:`.service`).

Clerks log in at ``POST /registry/auth/token`` and send ``Authorization: Bearer …``.
Citizens' appointment steps (list free slots, book, confirm, cancel, reschedule) need no
token; a partner proves themselves with the confirmation code. Errors are domain errors
rendered as ``application/problem+json`` by the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from elicense.errors import Unauthorized
from elicense.registry import service
from elicense.registry.schemas import (
    AppointmentOut,
    AuditOut,
    BookingIn,
    BookingOut,
    CancelIn,
    CodeIn,
    DissolutionIn,
    LoginIn,
    LookupIn,
    MaritalStatusOut,
    MarriageIn,
    MarriageOut,
    NameIn,
    OfficeIn,
    OfficeOut,
    PersonIn,
    PersonOut,
    RescheduleIn,
    SlotIn,
    SlotOut,
    TokenOut,
)
from elicense.registry.types import PUBLIC, Actor, NewPerson, Role
from elicense.web.deps import SealerDep, SessionDep, rate_limit

router = APIRouter(prefix="/registry", tags=["registry"])
#: Citizens' appointment steps answer without a token (and say whether an ID number is
#: known), and confirmation codes can be guessed: both are rate limited per client.
PUBLIC_PER_MINUTE = 30
LOGIN_PER_MINUTE = 10
_public_limited = [Depends(rate_limit("registry.public", PUBLIC_PER_MINUTE))]
_login_limited = [Depends(rate_limit("registry.login", LOGIN_PER_MINUTE))]
_bearer = HTTPBearer(auto_error=False, description="Clerk token from POST /registry/auth/token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _clerk(session: SessionDep, credentials: Credentials) -> Actor:
    if credentials is None:
        raise Unauthorized("a clerk bearer token is required", code="token_required")
    return service.actor_for_token(session, credentials.credentials)


def _clerk_or_public(session: SessionDep, credentials: Credentials) -> Actor:
    return (
        PUBLIC if credentials is None else service.actor_for_token(session, credentials.credentials)
    )


def _role(*roles: Role) -> Callable[[Actor], Actor]:
    def check(actor: Annotated[Actor, Depends(_clerk)]) -> Actor:
        service.require_role(actor, *roles)
        return actor

    return check


AnyClerk = Annotated[Actor, Depends(_clerk)]
MaybeClerk = Annotated[Actor, Depends(_clerk_or_public)]
Registrar = Annotated[Actor, Depends(_role(Role.REGISTRAR))]
Admin = Annotated[Actor, Depends(_role(Role.ADMIN))]
Overseer = Annotated[Actor, Depends(_role(Role.AUDITOR, Role.ADMIN))]


# --- clerks -------------------------------------------------------------------------


@router.post("/auth/token", response_model=TokenOut, dependencies=_login_limited)
def login(body: LoginIn, session: SessionDep) -> TokenOut:
    """Exchange a clerk's username and password for a bearer token."""
    issued = service.login(session, body.username, body.password)
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at, role=issued.clerk.role)


@router.delete("/auth/token", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, actor: AnyClerk, credentials: Credentials) -> None:
    """Revoke the bearer token used for this request."""
    assert credentials is not None
    service.revoke_token(session, credentials.credentials, actor=actor)


# --- persons ------------------------------------------------------------------------


@router.post("/persons", status_code=status.HTTP_201_CREATED, response_model=PersonOut)
def create_person(
    body: PersonIn, session: SessionDep, sealer: SealerDep, actor: Registrar
) -> PersonOut:
    person = service.create_person(session, sealer, NewPerson(**body.model_dump()), actor=actor)
    return PersonOut.of(person, unmasked=True)


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(
    person_id: str, session: SessionDep, sealer: SealerDep, actor: AnyClerk
) -> PersonOut:
    person = service.get_person(session, sealer, person_id)
    return PersonOut.of(person, unmasked=actor.role is Role.REGISTRAR)


@router.post("/persons/lookup", response_model=PersonOut)
def lookup_person(
    body: LookupIn, session: SessionDep, sealer: SealerDep, actor: AnyClerk
) -> PersonOut:
    """Find a person by resident ID number (in the body, so it stays out of URLs and logs)."""
    person = service.find_person_by_id_number(session, sealer, body.id_number)
    return PersonOut.of(person, unmasked=actor.role is Role.REGISTRAR)


@router.put("/persons/{person_id}/name", response_model=PersonOut)
def rename_person(
    person_id: str, body: NameIn, session: SessionDep, sealer: SealerDep, actor: Registrar
) -> PersonOut:
    person = service.update_person_name(
        session, sealer, person_id, name_zh=body.name_zh, name_latin=body.name_latin, actor=actor
    )
    return PersonOut.of(person, unmasked=True)


@router.get("/persons/{person_id}/marital-status", response_model=MaritalStatusOut)
def marital_status(person_id: str, session: SessionDep, actor: AnyClerk) -> MaritalStatusOut:
    return MaritalStatusOut.of(service.marital_status(session, person_id))


# --- offices and slots --------------------------------------------------------------


@router.post("/offices", status_code=status.HTTP_201_CREATED, response_model=OfficeOut)
def create_office(body: OfficeIn, session: SessionDep, actor: Admin) -> OfficeOut:
    return OfficeOut.of(service.create_office(session, **body.model_dump(), actor=actor))


@router.get("/offices", response_model=list[OfficeOut])
def list_offices(session: SessionDep) -> list[OfficeOut]:
    return [OfficeOut.of(office) for office in service.list_offices(session)]


@router.post("/offices/{office_code}/slots", status_code=201, response_model=SlotOut)
def create_slot(office_code: str, body: SlotIn, session: SessionDep, actor: Admin) -> SlotOut:
    slot = service.create_slot(session, office_code=office_code, **body.model_dump(), actor=actor)
    return SlotOut.of(slot)


@router.get("/slots", response_model=list[SlotOut])
def free_slots(
    session: SessionDep,
    office_code: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SlotOut]:
    """Future slots with at least one free seat, earliest first."""
    slots = service.list_free_slots(session, office_code=office_code, limit=limit)
    return [SlotOut.of(slot) for slot in slots]


# --- appointments -------------------------------------------------------------------


@router.post(
    "/appointments",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingOut,
    dependencies=_public_limited,
)
def book(body: BookingIn, session: SessionDep, sealer: SealerDep, actor: MaybeClerk) -> BookingOut:
    receipt = service.book_appointment(
        session,
        sealer,
        slot_id=body.slot_id,
        partner_id_numbers=body.partner_id_numbers,
        actor=actor,
    )
    return BookingOut(
        appointment=AppointmentOut.of(receipt.appointment),
        confirmation_codes=receipt.confirmation_codes,
    )


@router.get("/appointments/{appointment_id}", response_model=AppointmentOut)
def get_appointment(appointment_id: str, session: SessionDep, actor: AnyClerk) -> AppointmentOut:
    return AppointmentOut.of(service.get_appointment(session, appointment_id))


@router.post(
    "/appointments/{appointment_id}/confirm",
    response_model=AppointmentOut,
    dependencies=_public_limited,
)
def confirm(appointment_id: str, body: CodeIn, session: SessionDep) -> AppointmentOut:
    return AppointmentOut.of(service.confirm_appointment(session, appointment_id, body.code))


@router.post(
    "/appointments/{appointment_id}/cancel",
    response_model=AppointmentOut,
    dependencies=_public_limited,
)
def cancel(
    appointment_id: str, body: CancelIn, session: SessionDep, actor: MaybeClerk
) -> AppointmentOut:
    appointment = service.cancel_appointment(session, appointment_id, code=body.code, actor=actor)
    return AppointmentOut.of(appointment)


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response_model=AppointmentOut,
    dependencies=_public_limited,
)
def reschedule(
    appointment_id: str, body: RescheduleIn, session: SessionDep, actor: MaybeClerk
) -> AppointmentOut:
    appointment = service.reschedule_appointment(
        session, appointment_id, new_slot_id=body.slot_id, code=body.code, actor=actor
    )
    return AppointmentOut.of(appointment)


@router.post("/appointments/{appointment_id}/marriage", status_code=201, response_model=MarriageOut)
def register_at_appointment(
    appointment_id: str, session: SessionDep, actor: Registrar
) -> MarriageOut:
    """Register the marriage of a confirmed appointment (both partners present)."""
    return MarriageOut.of(
        service.register_marriage_at_appointment(session, appointment_id, actor=actor)
    )


# --- marriages ----------------------------------------------------------------------


@router.post("/marriages", status_code=status.HTTP_201_CREATED, response_model=MarriageOut)
def register(body: MarriageIn, session: SessionDep, actor: Registrar) -> MarriageOut:
    marriage = service.register_marriage(
        session,
        office_code=body.office_code,
        spouse_ids=body.spouse_ids,
        registration_date=body.registration_date,
        actor=actor,
    )
    return MarriageOut.of(marriage)


@router.get("/marriages/{marriage_id}", response_model=MarriageOut)
def get_marriage(marriage_id: str, session: SessionDep, actor: AnyClerk) -> MarriageOut:
    return MarriageOut.of(service.get_marriage(session, marriage_id))


@router.post("/marriages/{marriage_id}/dissolution", response_model=MarriageOut)
def dissolve(
    marriage_id: str, body: DissolutionIn, session: SessionDep, actor: Registrar
) -> MarriageOut:
    marriage = service.dissolve_marriage(
        session,
        marriage_id,
        office_code=body.office_code,
        dissolution_date=body.dissolution_date,
        actor=actor,
    )
    return MarriageOut.of(marriage)


# --- audit --------------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    session: SessionDep,
    actor: Overseer,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: int | None = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditOut]:
    """Newest first; page with ``before_id``."""
    entries = service.audit_entries(session, limit=limit, before_id=before_id, target_id=target_id)
    return [AuditOut.of(entry) for entry in entries]
