"""``elicense proofing …``: bulk enrolment of reference photos, unlocking ID numbers.

``enroll`` takes one photo or a directory of photos named ``<resident ID number>.jpg``
(or ``.png``), as exported from the ID-card photo archive. Each photo is checked by the
face engine's enrolment gates and stored as a sealed template on the person's record in
its own transaction: one bad photo never stops or half-writes the others. Nothing of
the photo is kept; the report names files, never ID numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicense.console import clear_errors, progress, runtime_scope
from elicense.errors import ELicenseError
from elicense.registry import service as registry
from elicense.registry.types import SYSTEM

proofing_app = typer.Typer(help="Face identity proofing: enrolment.", no_args_is_help=True)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def _photos(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


@proofing_app.command("enroll")
@clear_errors
def enroll_command(
    path: Annotated[
        Path, typer.Argument(exists=True, help="A photo or a directory of <ID number>.jpg")
    ],
) -> None:
    """Store reference face templates from ID-card photos (re-running replaces them)."""
    from elicense.proofing import service

    photos = _photos(path)
    if not photos:
        typer.echo("no .jpg/.jpeg/.png photos found", err=True)
        raise typer.Exit(1)
    failures: list[tuple[str, str]] = []
    with runtime_scope() as runtime, progress() as bar:
        task = bar.add_task("enrolling", total=len(photos))
        for photo in photos:
            try:
                with runtime.db.transaction() as session:
                    person = registry.find_person_by_id_number(session, runtime.sealer, photo.stem)
                    service.enroll_reference(
                        session, runtime.sealer, person.id, photo.read_bytes(), actor=SYSTEM
                    )
            except ELicenseError as exc:
                failures.append((photo.name, exc.instance_code))
            bar.advance(task)
    typer.echo(f"{len(photos) - len(failures)} enrolled, {len(failures)} failed")
    for name, code in failures:
        typer.echo(f"  {name}: {code}", err=True)
    if failures:
        raise typer.Exit(1)
