"""HTTP API of identity proofing (thin: parse, authorize, call :mod:`.service`).

Citizen (wallet) steps need no token — the session id is an unguessable capability:
``POST /proofing/sessions`` (ID number → challenge), ``POST /proofing/sessions/{id}/frames``
(multipart: ``frames`` JPEG files + ``captured_at`` JSON list of epoch seconds),
``GET /proofing/sessions/{id}``. Clerk steps need a bearer token: enrolment of the
reference photo, the in-person check, unlocking an ID number.
"""

from __future__ import annotations

import datetime as dt
import json

from fastapi import APIRouter, Depends, Request, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from elicense.errors import ValidationFailed
from elicense.proofing import service
from elicense.proofing.engine import CapturedFrame
from elicense.proofing.images import MAX_IMAGE_BYTES
from elicense.proofing.liveness import MAX_FRAMES
from elicense.registry.api import Registrar
from elicense.web.deps import RuntimeDep, SealerDep, SessionDep, rate_limit

router = APIRouter(prefix="/proofing", tags=["proofing"])
#: Requests per client address per minute, for session starts and frame posts alike.
RATE_LIMIT_PER_MINUTE = 20
_limited = [Depends(rate_limit("proofing", RATE_LIMIT_PER_MINUTE))]
#: A 640x480 camera frame is ~50 KB; anything near these caps is not a camera burst.
MAX_FRAME_BYTES = 2 * 1024 * 1024
MAX_BURST_BYTES = 24 * 1024 * 1024


class StartIn(BaseModel):
    id_number: str = Field(min_length=1, max_length=32, repr=False)


class SessionOut(BaseModel):
    id: str
    status: str
    actions: list[str]
    nonce: str
    expires_at: dt.datetime
    reasons: list[str]
    verified_identity_id: str | None
    min_frames: int
    max_frames: int
    min_burst_seconds: float


class PersonIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=40)


class VerifiedIdentityOut(BaseModel):
    id: str
    person_id: str
    method: str
    verified_at: dt.datetime
    expires_at: dt.datetime


def _out(view: service.SessionView) -> SessionOut:
    return SessionOut(
        id=view.id,
        status=view.status,
        actions=list(view.actions),
        nonce=view.nonce,
        expires_at=view.expires_at,
        reasons=list(view.reasons),
        verified_identity_id=view.verified_identity_id,
        min_frames=view.min_frames,
        max_frames=view.max_frames,
        min_burst_seconds=view.min_burst_seconds,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    dependencies=_limited,
)
def start(body: StartIn, request: Request, runtime: RuntimeDep) -> SessionOut:
    with runtime.db.transaction() as session:
        view = service.start_session(session, runtime.sealer, body.id_number, _client(request))
    return _out(view)


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get(session_id: str, session: SessionDep) -> SessionOut:
    return _out(service.get_session(session, session_id))


@router.post("/sessions/{session_id}/frames", response_model=SessionOut, dependencies=_limited)
async def frames(session_id: str, request: Request, runtime: RuntimeDep) -> SessionOut:
    burst = await _read_burst(request)
    view = await run_in_threadpool(
        service.submit_frames, runtime.db, runtime.sealer, session_id, burst
    )
    return _out(view)


async def _read_burst(request: Request) -> list[CapturedFrame]:
    async with request.form(
        max_files=MAX_FRAMES, max_fields=4, max_part_size=MAX_FRAME_BYTES
    ) as form:
        files = [f for f in form.getlist("frames") if isinstance(f, StarletteUpload)]
        images = [await f.read() for f in files]
        raw_times = form.get("captured_at")
    if not images:
        raise ValidationFailed("send the burst as multipart 'frames' files", code="no_frames")
    times = _capture_times(raw_times, len(images))
    if sum(len(image) for image in images) > MAX_BURST_BYTES:
        raise ValidationFailed("the burst is too large", code="burst_too_large")
    return [CapturedFrame(image, t) for image, t in zip(images, times, strict=True)]


def _capture_times(raw: object, count: int) -> list[float]:
    try:
        times = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        times = None
    if (
        not isinstance(times, list)
        or len(times) != count
        or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times)
    ):
        raise ValidationFailed(
            "'captured_at' must be a JSON list with one time (epoch seconds) per frame",
            code="bad_capture_times",
        )
    return [float(t) for t in times]


@router.post("/enrolments/{person_id}", status_code=status.HTTP_204_NO_CONTENT)
async def enrol(
    person_id: str, photo: UploadFile, session: SessionDep, sealer: SealerDep, actor: Registrar
) -> None:
    image = await photo.read(MAX_IMAGE_BYTES + 1)
    if len(image) > MAX_IMAGE_BYTES:
        raise ValidationFailed("photo too large", code="image_too_large")
    await run_in_threadpool(
        service.enroll_reference, session, sealer, person_id, image, actor=actor
    )


@router.post(
    "/in-person-checks", status_code=status.HTTP_201_CREATED, response_model=VerifiedIdentityOut
)
def in_person(
    body: PersonIn, session: SessionDep, sealer: SealerDep, actor: Registrar
) -> VerifiedIdentityOut:
    record = service.record_in_person_check(session, sealer, body.person_id, actor=actor)
    return VerifiedIdentityOut(
        id=record.id,
        person_id=record.person_id,
        method=record.method,
        verified_at=record.verified_at,
        expires_at=record.expires_at,
    )


@router.post("/locks/unlock", status_code=status.HTTP_204_NO_CONTENT)
def unlock(body: StartIn, session: SessionDep, sealer: SealerDep, actor: Registrar) -> None:
    service.unlock(session, sealer, body.id_number, actor=actor)
