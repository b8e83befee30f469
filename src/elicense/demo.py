"""``elicense demo``: the seed's whole journey, from the command line, on a fresh database.

1. A fresh data directory (a temporary one unless ``--data-dir``) and database (SQLite
   there, or ``--database-url``) is migrated and seeded with the demo province.
2. The server starts as a subprocess on a free loopback port (``elicense serve``).
3. Everything else goes over HTTP, as a citizen's phone and a clerk's desk would: a
   couple books an appointment and both confirm; a registrar registers the marriage;
   each spouse proves identity — a live face session from the shared face videos when
   they are there (the challenge is random, so sessions are started until one asks for
   what the recorded video shows; the output says so), otherwise a registrar's
   in-person check —; the issuer makes an offer; each spouse's wallet
   (:mod:`elicense.wallet`) receives a marriage license over OpenID4VCI; a registrar
   records the divorce; the life-events processor revokes both licenses; the published
   status list, verified with :mod:`elicense.status.check`, shows both revoked.

Exit code 0 only if every step succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from elicense import clock
from elicense.crypto.jwk import load_public_jwk
from elicense.crypto.trust import IssuerKey
from elicense.errors import ELicenseError
from elicense.status.check import read_status
from elicense.status.token_status_list import Status
from elicense.wallet.http import issuer_error
from elicense.wallet.offer import resolve_offer
from elicense.wallet.openid4vci import Holder
from elicense.wallet.store import StoredCredential, WalletFile

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FACES = REPO_ROOT / ".." / "shared" / "data" / "faces"
WALLET_PASSPHRASE = "demo wallet passphrase"  # noqa: S105 (printed: a demo, not a secret)
COUPLE = (4, 5)  # two unmarried persons of the demo province (registry.demo.PEOPLE)
OFFICE = "HZ-XH"


@dataclasses.dataclass(frozen=True, slots=True)
class FaceVideo:
    """A shared test video, the challenge it satisfies and the frames that show it."""

    name: str
    actions: tuple[str, ...]
    start: int
    stop: int
    step: int


#: One video per spouse (see tests/proofing/test_proofing_api.py).
FACE_VIDEOS = (
    FaceVideo("video_blink_2.mp4", ("blink", "blink"), 30, 121, 6),
    FaceVideo("video_turn_1.mp4", ("turn_right", "turn_left"), 0, 281, 20),
)
CAMERA_FPS = 30.0
MAX_CHALLENGE_DRAWS = 200


class DemoFailed(ELicenseError):
    code = "demo_failed"
    status = 500
    title = "Demo step failed"


# --- output ----------------------------------------------------------------------------


class Steps:
    """Numbered, flushed progress lines: ``[ 3/12] title ... ok (detail)``."""

    def __init__(self, total: int, echo: Callable[[str], None]) -> None:
        self.total, self.echo, self.done = total, echo, 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        self.done += 1
        self.echo(f"[{self.done:>2}/{self.total}] {title} ...")
        details: list[str] = []
        started = time.monotonic()
        try:
            yield details
        except Exception as exc:
            reason = exc.message if isinstance(exc, ELicenseError) else repr(exc)
            self.echo(f"        FAILED: {reason}")
            raise
        seconds = time.monotonic() - started
        for detail in details:
            self.echo(f"        {detail}")
        self.echo(f"        ok ({seconds:.1f} s)")


# --- server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(data_dir: Path, database_url: str | None, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENSE_")}
    env |= {
        "ELICENSE_DATA_DIR": str(data_dir),
        "ELICENSE_PUBLIC_BASE_URL": base_url,
        "ELICENSE_LOG_LEVEL": "WARNING",
    }
    for name in ("ELICENSE_KEY_PASSPHRASE",):
        if name in os.environ:
            env[name] = os.environ[name]
    if database_url:
        env["ELICENSE_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def running_server(
    env: dict[str, str], port: int, log_path: Path, workers: int = 1
) -> Iterator[str]:
    """``elicense serve`` in a subprocess until the block ends; yields its base URL."""
    command = [
        sys.executable,
        "-c",
        "from elicense.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise DemoFailed("the server exited at start-up: " + " | ".join(tail))
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise DemoFailed("the server did not become healthy within 120 s")


# --- HTTP helpers ----------------------------------------------------------------------------


def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
    """One API call; a non-2xx answer is a typed error with the server's code."""
    response = client.request(method, url, **kwargs)
    if response.status_code >= 400:
        raise issuer_error(response, f"{method} {url.split('?')[0]}")
    return response.json() if response.content else None


# --- the journey -------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Journey:
    client: httpx.Client
    base_url: str
    data_dir: Path
    seed: Any
    faces_dir: Path | None
    clerk: dict[str, str] = dataclasses.field(default_factory=dict)
    appointment_id: str = ""
    marriage_id: str = ""
    identities: dict[int, str] = dataclasses.field(default_factory=dict)
    offers: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    licenses: dict[int, StoredCredential] = dataclasses.field(default_factory=dict)

    def person(self, index: int) -> Any:
        return self.seed.persons[index]

    def label(self, index: int) -> str:
        person = self.person(index)
        return f"{person.name_zh} ({person.name_latin})"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def login(journey: Journey) -> str:
    registrar = journey.seed.registrar
    body = {"username": registrar.username, "password": registrar.password}
    token = call(journey.client, "POST", journey.url("/registry/auth/token"), json=body)
    journey.clerk = {"Authorization": f"Bearer {token['access_token']}"}
    return f"registrar {registrar.username} signed in"


def book_and_confirm(journey: Journey) -> list[str]:
    client, url = journey.client, journey.url
    slots = call(client, "GET", url(f"/registry/slots?office_code={OFFICE}&limit=1"))
    if not slots:
        raise DemoFailed(f"no free slot at {OFFICE}")
    numbers = [journey.person(i).id_number for i in COUPLE]
    body = {"slot_id": slots[0]["id"], "partner_id_numbers": numbers}
    booking = call(client, "POST", url("/registry/appointments"), json=body)
    appointment = booking["appointment"]
    for code in booking["confirmation_codes"]:
        confirm = url(f"/registry/appointments/{appointment['id']}/confirm")
        call(client, "POST", confirm, json={"code": code})
    journey.appointment_id = appointment["id"]
    return [
        f"{journey.label(COUPLE[0])} and {journey.label(COUPLE[1])} booked slot "
        f"{slots[0].get('starts_at', slots[0]['id'])} at {OFFICE}",
        f"appointment {appointment['id']} confirmed by both partners (codes sent by 'SMS')",
    ]


def register_marriage(journey: Journey) -> list[str]:
    path = f"/registry/appointments/{journey.appointment_id}/marriage"
    marriage = call(journey.client, "POST", journey.url(path), headers=journey.clerk)
    journey.marriage_id = marriage["id"]
    return [f"marriage {marriage['id']} registered, certificate {marriage['certificate_number']}"]


# -- identity ------------------------------------------------------------------------------------


def faces_available(faces_dir: Path | None) -> bool:
    return faces_dir is not None and all((faces_dir / v.name).is_file() for v in FACE_VIDEOS)


def video_frames(path: Path, start: int, stop: int, step: int) -> list[bytes]:
    """JPEG frames ``start:stop:step`` of a video, as a phone camera burst would send."""
    import cv2

    from elicense.proofing.images import encode_jpeg

    capture = cv2.VideoCapture(str(path))
    frames: list[bytes] = []
    try:
        for index in range(stop):
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                frames.append(encode_jpeg(frame, quality=85))  # type: ignore[arg-type]
    finally:
        capture.release()
    if not frames:
        raise DemoFailed(f"could not read frames from {path.name}")
    return frames


def face_identity(journey: Journey, spouse: int, video: FaceVideo) -> list[str]:
    """Enrol the reference from the video's first frame, then a live session."""
    assert journey.faces_dir is not None
    person = journey.person(spouse)
    path = journey.faces_dir / video.name
    reference = video_frames(path, 0, 1, 1)[0]
    files = {"photo": ("reference.jpg", reference, "image/jpeg")}
    enrol = journey.url(f"/proofing/enrolments/{person.person_id}")
    call(journey.client, "POST", enrol, files=files, headers=journey.clerk)
    session, draws, waited = draw_challenge(journey, person.id_number, video.actions)
    burst = video_frames(path, video.start, video.stop, video.step)
    interval = video.step / CAMERA_FPS
    capture_seconds = interval * (len(burst) - 1)
    start = float(clock.epoch())
    time.sleep(capture_seconds + 1.0)  # the camera records the burst in real time
    times = [start + i * interval for i in range(len(burst))]
    frames = [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(burst)]
    result = post_with_rate_limit(
        journey,
        f"/proofing/sessions/{session['id']}/frames",
        files=frames,
        data={"captured_at": json.dumps(times)},
    )
    if result["status"] != "succeeded":
        raise DemoFailed(f"face session failed: {', '.join(result['reasons'])}")
    journey.identities[spouse] = result["verified_identity_id"]
    return [
        f"{journey.label(spouse)}: reference photo enrolled from frame 0 of {video.name}",
        f"challenge is random; started {draws} session(s) until one asked for "
        f"{' + '.join(video.actions)} (what {video.name} shows)"
        + (f", waiting {waited:.0f} s for the per-minute rate limit" if waited else ""),
        f"captured {len(burst)} frames over {capture_seconds:.1f} s and sent them: "
        "liveness and 1:1 face match passed "
        f"-> verified identity {result['verified_identity_id']}",
    ]


def draw_challenge(
    journey: Journey, id_number: str, actions: tuple[str, ...]
) -> tuple[dict[str, Any], int, float]:
    waited = 0.0
    for draw in range(1, MAX_CHALLENGE_DRAWS + 1):
        started = time.monotonic()
        session = post_with_rate_limit(journey, "/proofing/sessions", json={"id_number": id_number})
        waited += time.monotonic() - started if time.monotonic() - started > 1 else 0.0
        if tuple(session["actions"]) == actions:
            return session, draw, waited
    raise DemoFailed(f"no {'+'.join(actions)} challenge in {MAX_CHALLENGE_DRAWS} sessions")


def post_with_rate_limit(journey: Journey, path: str, **kwargs: Any) -> Any:
    """POST; when the proofing rate limit (per client per minute) answers 429, wait for
    the next minute and try again, as a patient citizen would."""
    for _ in range(5):
        response = journey.client.post(journey.url(path), **kwargs)
        if response.status_code != 429:
            if response.status_code >= 400:
                raise issuer_error(response, f"POST {path}")
            return response.json()
        time.sleep(61 - time.time() % 60)
    raise DemoFailed("still rate limited after five minutes")


def in_person_identity(journey: Journey, spouse: int) -> list[str]:
    person = journey.person(spouse)
    body = {"person_id": person.person_id}
    url = journey.url("/proofing/in-person-checks")
    record = call(journey.client, "POST", url, json=body, headers=journey.clerk)
    journey.identities[spouse] = record["id"]
    return [
        f"{journey.label(spouse)}: registrar's in-person identity check "
        f"-> verified identity {record['id']}"
    ]


# -- issuance -----------------------------------------------------------------------------------


def make_offers(journey: Journey) -> list[str]:
    lines = []
    for spouse in COUPLE:
        body = {
            "verified_identity_id": journey.identities[spouse],
            "credential_configuration_ids": ["marriage_license"],
            "tx_code": True,
        }
        offer = call(journey.client, "POST", journey.url("/issuance/offers"), json=body)
        journey.offers[spouse] = offer
        lines.append(f"{journey.label(spouse)}: {offer['deep_link']}")
        lines.append(f"    transaction code (sent by SMS): {offer['tx_code']}")
    return lines


def wallet_path(journey: Journey, spouse: int) -> Path:
    return (
        journey.data_dir / "wallets" / f"{journey.person(spouse).name_latin.replace(' ', '_')}.enc"
    )


def receive_licenses(journey: Journey) -> list[str]:
    lines = []
    holder = Holder(journey.client)
    for spouse in COUPLE:
        offer = journey.offers[spouse]
        parsed = resolve_offer(offer["deep_link"], journey.client)
        handle = WalletFile.open(wallet_path(journey, spouse), WALLET_PASSPHRASE, create=True)
        with handle.transaction() as wallet:
            [stored] = holder.receive(parsed, wallet, tx_code=offer.get("tx_code"))
        journey.licenses[spouse] = stored
        names = stored.claims
        lines.append(
            f"{journey.label(spouse)}: wallet {wallet_path(journey, spouse).name} holds "
            f"{stored.id} ({stored.display.name('zh-CN')}), verified against the issuer's JWKS, "
            f"{len(names)} claims, status index {_status_idx(stored)}"
        )
    lines.append(f"wallets under {journey.data_dir / 'wallets'}, passphrase '{WALLET_PASSPHRASE}'")
    return lines


def _status_idx(credential: StoredCredential) -> object:
    return (credential.status or {}).get("status_list", {}).get("idx")


# -- status ------------------------------------------------------------------------------------


def issuer_keys(journey: Journey) -> list[IssuerKey]:
    jwks = call(journey.client, "GET", journey.url("/.well-known/jwks.json"))
    return [IssuerKey(load_public_jwk(k), issuer=journey.base_url) for k in jwks["keys"]]


def statuses(journey: Journey) -> dict[int, Status]:
    """Each license's status from the published, signature-checked status list."""
    keys = issuer_keys(journey)
    found: dict[int, Status] = {}
    for spouse, credential in journey.licenses.items():
        claim = credential.status
        uri = (claim or {}).get("status_list", {}).get("uri")
        if not isinstance(uri, str):
            raise DemoFailed("the license carries no status list reference")
        headers = {"Accept": "application/statuslist+jwt"}
        response = journey.client.get(uri, headers=headers)
        if response.status_code != 200:
            raise issuer_error(response, f"GET {uri}")
        found[spouse] = Status(read_status(response.text, claim, keys))
    return found


def check_valid(journey: Journey) -> list[str]:
    found = statuses(journey)
    if any(s is not Status.VALID for s in found.values()):
        raise DemoFailed(f"licenses should be valid before the divorce: {found}")
    return [f"{journey.label(i)}: {s.name}" for i, s in found.items()]


def divorce(journey: Journey) -> list[str]:
    path = f"/registry/marriages/{journey.marriage_id}/dissolution"
    body = {"office_code": OFFICE}
    marriage = call(journey.client, "POST", journey.url(path), json=body, headers=journey.clerk)
    return [f"marriage {marriage['id']} dissolved on {marriage['dissolved_on']}"]


def wait_for_revocation(journey: Journey, timeout: float = 60.0) -> list[str]:
    """The server's life-events processor (a background thread of every server process)
    revokes both licenses; poll the published status list until it shows that."""
    started = time.monotonic()
    while True:
        found = statuses(journey)
        if all(s is Status.INVALID for s in found.values()):
            seconds = time.monotonic() - started
            return [
                f"life-events processor revoked both licenses within {seconds:.1f} s",
                *(
                    f"{journey.label(i)}: {s.name} (revoked), verified status list"
                    for i, s in found.items()
                ),
            ]
        if time.monotonic() - started > timeout:
            raise DemoFailed(f"licenses not revoked after {timeout:.0f} s: {found}")
        time.sleep(0.5)


# --- orchestration -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DemoOptions:
    data_dir: Path | None = None
    database_url: str | None = None
    faces_dir: Path | None = DEFAULT_FACES
    use_faces: bool = True


def prepare(data_dir: Path, database_url: str | None, base_url: str) -> Any:
    """Migrate and seed the fresh database in-process (the server migrates again: no-op)."""
    from elicense.config import load_settings
    from elicense.registry.demo import seed_demo
    from elicense.runtime import open_runtime

    runtime = open_runtime(load_settings(server_environment(data_dir, database_url, base_url)))
    try:
        with runtime.db.transaction() as session:
            return seed_demo(session, runtime.sealer)
    finally:
        runtime.db.dispose()


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> bool:
    """The whole journey; True if every step succeeded."""
    with contextlib.ExitStack() as stack:
        data_dir = options.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="elicense-demo-"))
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            return _run(options, data_dir, echo, stack)
        except (ELicenseError, httpx.HTTPError, OSError) as exc:
            echo(f"demo FAILED: {getattr(exc, 'message', None) or exc!r}")
            return False


def _run(
    options: DemoOptions, data_dir: Path, echo: Callable[[str], None], stack: contextlib.ExitStack
) -> bool:
    faces = options.faces_dir if options.use_faces else None
    use_faces = faces_available(faces)
    steps = Steps(12, echo)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(data_dir, options.database_url, base_url)
    with steps.step("Fresh database: migrate and seed the demo province") as out:
        seed = prepare(data_dir, options.database_url, base_url)
        out.append(f"data directory {data_dir}")
        out.append(f"{len(seed.persons)} persons, {len(seed.offices)} offices, clerk accounts")
    with steps.step(f"Start the server on {base_url}") as out:
        url = stack.enter_context(running_server(env, port, data_dir / "server.log"))
        out.append(f"elicense serve (subprocess), log in {data_dir / 'server.log'}")
    return _journey(steps, url, data_dir, seed, faces if use_faces else None, use_faces)


def _journey(
    steps: Steps, base_url: str, data_dir: Path, seed: Any, faces: Path | None, use_faces: bool
) -> bool:
    with httpx.Client(timeout=60.0) as client:
        journey = Journey(client, base_url, data_dir, seed, faces)
        with steps.step("Registrar signs in") as out:
            out.append(login(journey))
        with steps.step("Couple books an appointment; both partners confirm") as out:
            out.extend(book_and_confirm(journey))
        with steps.step("Registrar registers the marriage at the appointment") as out:
            out.extend(register_marriage(journey))
        for spouse, video in zip(COUPLE, FACE_VIDEOS, strict=True):
            how = "live face session" if use_faces else "in-person check (no face videos found)"
            with steps.step(f"{journey.label(spouse)} proves identity: {how}") as out:
                if use_faces:
                    out.extend(face_identity(journey, spouse, video))
                else:
                    out.extend(in_person_identity(journey, spouse))
        with steps.step("Issuer makes a credential offer to each spouse") as out:
            out.extend(make_offers(journey))
        with steps.step("Both wallets receive marriage licenses (OpenID4VCI)") as out:
            out.extend(receive_licenses(journey))
        with steps.step("Status list shows both licenses valid") as out:
            out.extend(check_valid(journey))
        with steps.step("Registrar records the divorce") as out:
            out.extend(divorce(journey))
        with steps.step("Life-events processor runs; status list shows both revoked") as out:
            out.extend(wait_for_revocation(journey))
    steps.echo("demo complete: every step succeeded")
    return True


# --- the command ---------------------------------------------------------------------------


def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: a fresh temporary one, removed after)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Database URL (default: SQLite in the data directory). Use an empty database."
        ),
    ] = None,
    faces_dir: Annotated[
        Path, typer.Option(help="Shared face videos (live face sessions when present).")
    ] = DEFAULT_FACES,
    faces: Annotated[
        bool, typer.Option(help="Use live face sessions when the videos are there.")
    ] = True,
) -> None:
    """Run the whole journey: book, marry, prove identity, receive licenses, divorce, revoke."""
    options = DemoOptions(data_dir, database_url, faces_dir.expanduser(), faces)
    ok = run_demo(options, lambda line: typer.echo(line))
    raise typer.Exit(0 if ok else 1)
