"""Bulk import of persons and marriages from CSV (migration from an existing registry).

Files are UTF-8 (a BOM is accepted) with a header row; columns may come in any order;
unknown columns are refused (they are usually a typo of an optional one).

**persons** (``--kind persons``)

=====================  ========  ====================================================
column                 required  content
=====================  ========  ====================================================
``id_number``          yes       resident ID number (GB 11643-1999, 18 characters)
``name_zh``            yes       name in Chinese characters
``name_latin``         yes       name in Latin letters (pinyin)
``sex``                yes       ``M`` or ``F`` (``男`` / ``女`` accepted)
``birth_date``         yes       ``YYYY-MM-DD``; must agree with the ID number
``nationality``        no        ISO 3166 alpha-3, default ``CHN``
``household_region``   no        6-digit region code, default the ID number's
=====================  ========  ====================================================

**marriages** (``--kind marriages``; spouses must already be imported as persons; rows
in chronological order, since a person cannot marry again before the divorce row)

===========================  ========  ==============================================
column                       required  content
===========================  ========  ==============================================
``certificate_number``       yes       the existing certificate number (kept as is)
``office_code``              yes       code of a known office
``registration_date``        yes       ``YYYY-MM-DD``
``spouse_a_id_number``       yes       resident ID number of one spouse
``spouse_b_id_number``       yes       resident ID number of the other spouse
``dissolution_date``         no        ``YYYY-MM-DD`` if the marriage was dissolved
``dissolution_office_code``  no        required with ``dissolution_date``
``dissolution_number``       no        the divorce certificate number (else numbered)
===========================  ========  ==============================================

Each row is applied in its own unit of work (a transaction, or a savepoint), so a bad
row never aborts or half-writes the others. A row already on record identically counts
as *unchanged*, so re-running an import is safe; a row that differs from the record is
an error (``row_conflicts_with_record``). The report lists each failed row as
(line number, code, message) — messages never contain the row's personal data.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from elicense.errors import Conflict, ELicenseError, NotFound, Unavailable, ValidationFailed
from elicense.registry import marriages, persons, resident_id
from elicense.registry.models import Marriage
from elicense.registry.offices import check_certificate_number
from elicense.registry.types import IMPORTER, Actor, NewPerson, Sex
from elicense.storage.sealing import Sealer

log = logging.getLogger("elicense.registry.import")

RowUnit = Callable[[], AbstractContextManager[Session]]
Progress = Callable[[int, int], None]
Row = dict[str, str]


class ImportKind(enum.StrEnum):
    PERSONS = "persons"
    MARRIAGES = "marriages"


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


REQUIRED = {
    ImportKind.PERSONS: ("id_number", "name_zh", "name_latin", "sex", "birth_date"),
    ImportKind.MARRIAGES: (
        "certificate_number",
        "office_code",
        "registration_date",
        "spouse_a_id_number",
        "spouse_b_id_number",
    ),
}
OPTIONAL = {
    ImportKind.PERSONS: ("nationality", "household_region"),
    ImportKind.MARRIAGES: ("dissolution_date", "dissolution_office_code", "dissolution_number"),
}
_SEXES = {"M": Sex.MALE, "F": Sex.FEMALE, "男": Sex.MALE, "女": Sex.FEMALE}


@dataclasses.dataclass(frozen=True, slots=True)
class RowError:
    line: int
    code: str
    message: str


@dataclasses.dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


def savepoint_per_row(session: Session) -> RowUnit:
    """A unit of work per row as a savepoint of ``session`` (tests; one outer transaction)."""

    @contextlib.contextmanager
    def unit() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    return unit


def import_csv(
    source: TextIO,
    kind: ImportKind,
    *,
    sealer: Sealer,
    unit: RowUnit,
    actor: Actor = IMPORTER,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every row of ``source``; raise only for a bad header or a database outage."""
    rows = read_csv(source, kind)
    return import_rows(rows, kind, sealer=sealer, unit=unit, actor=actor, progress=progress)


def import_rows(
    rows: list[tuple[int, Row]],
    kind: ImportKind,
    *,
    sealer: Sealer,
    unit: RowUnit,
    actor: Actor = IMPORTER,
    progress: Progress | None = None,
) -> ImportReport:
    """Import rows read by :func:`read_csv` (the CLI reads first, then shows progress)."""
    report = ImportReport(kind=kind, total=len(rows))
    handler = _HANDLERS[kind]
    for done, (line, row) in enumerate(rows, start=1):
        error = _apply(unit, handler, sealer, actor, line, row, report)
        if error is not None:
            report.errors.append(error)
            log.info("import %s: line %d rejected (%s)", kind, line, error.code)
        if progress is not None:
            progress(done, report.total)
    log.info(
        "import %s: %d rows, %d created, %d updated, %d unchanged, %d failed",
        kind,
        report.total,
        report.created,
        report.updated,
        report.unchanged,
        report.failed,
    )
    return report


Handler = Callable[[Session, Sealer, Row, Actor], Outcome]


def _apply(
    unit: RowUnit,
    handler: Handler,
    sealer: Sealer,
    actor: Actor,
    line: int,
    row: Row,
    report: ImportReport,
) -> RowError | None:
    try:
        _check_shape(row)
        with unit() as session:
            outcome = handler(session, sealer, row, actor)
    except Unavailable:
        raise
    except ELicenseError as exc:
        return RowError(line, exc.instance_code, exc.message)
    except (IntegrityError, DataError):
        return RowError(line, "row_rejected", "the database refused the row")
    report.count(outcome)
    return None


def read_csv(source: TextIO, kind: ImportKind) -> list[tuple[int, Row]]:
    """``(line number, row)`` pairs; ``ValidationFailed`` for a bad header."""
    reader = csv.DictReader(source, restkey="\x00extra")
    header = [name.strip().lstrip("\ufeff") for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED[kind] if name not in header]
    if missing:
        raise ValidationFailed(
            f"the CSV header lacks column(s): {', '.join(missing)}", code="csv_missing_columns"
        )
    unknown = [name for name in header if name not in REQUIRED[kind] + OPTIONAL[kind]]
    if unknown:
        raise ValidationFailed(
            f"the CSV header has unknown column(s): {', '.join(unknown)}",
            code="csv_unknown_columns",
        )
    reader.fieldnames = header
    return [(reader.line_num, row) for row in reader]


def _check_shape(row: dict[str, str]) -> None:
    if "\x00extra" in row:
        raise ValidationFailed("the row has more fields than the header", code="csv_row_too_long")
    if any(value is None for value in row.values()):
        raise ValidationFailed("the row has fewer fields than the header", code="csv_row_too_short")


# --- persons --------------------------------------------------------------------------


def _import_person(session: Session, sealer: Sealer, row: Row, actor: Actor) -> Outcome:
    new = NewPerson(
        id_number=row["id_number"].strip(),
        name_zh=row["name_zh"].strip(),
        name_latin=row["name_latin"].strip(),
        sex=_sex(row["sex"]),
        birth_date=_date(row["birth_date"], "birth_date"),
        nationality=(row.get("nationality") or "CHN").strip(),
        household_region=(row.get("household_region") or "").strip() or None,
    )
    parsed = resident_id.parse(new.id_number)
    resident_id.check_agrees(parsed, birth_date=new.birth_date, sex=new.sex)
    try:
        existing = persons.find_person_by_id_number(session, sealer, parsed.number)
    except NotFound:
        persons.create_person(session, sealer, new, actor=actor)
        return Outcome.CREATED
    same = (
        existing.name_zh == new.name_zh
        and existing.name_latin == new.name_latin
        and existing.nationality == new.nationality
        and existing.household_region == (new.household_region or parsed.region)
    )
    if not same:
        raise _differs("person")
    return Outcome.UNCHANGED


# --- marriages ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _MarriageRow:
    certificate_number: str
    office_code: str
    registration_date: dt.date
    spouse_ids: tuple[str, str]
    dissolution_date: dt.date | None
    dissolution_office_code: str | None
    dissolution_number: str | None


def _import_marriage(session: Session, sealer: Sealer, row: Row, actor: Actor) -> Outcome:
    wanted = _marriage_row(session, sealer, row)
    existing = session.scalar(
        select(Marriage).where(Marriage.certificate_number == wanted.certificate_number)
    )
    if existing is None:
        record = marriages.register_marriage(
            session,
            office_code=wanted.office_code,
            spouse_ids=wanted.spouse_ids,
            registration_date=wanted.registration_date,
            certificate_number=wanted.certificate_number,
            actor=actor,
        )
        _dissolve_if_asked(session, record.id, wanted, actor)
        return Outcome.CREATED
    core_same = (
        existing.office_code == wanted.office_code
        and existing.registration_date == wanted.registration_date
        and {existing.spouse_a_id, existing.spouse_b_id} == set(wanted.spouse_ids)
    )
    if not core_same:
        raise _differs("marriage")
    return _reconcile_dissolution(session, existing, wanted, actor)


def _reconcile_dissolution(
    session: Session, existing: Marriage, wanted: _MarriageRow, actor: Actor
) -> Outcome:
    if existing.dissolved_on is None and wanted.dissolution_date is not None:
        _dissolve_if_asked(session, existing.id, wanted, actor)
        return Outcome.UPDATED
    same = existing.dissolved_on == wanted.dissolution_date and (
        wanted.dissolution_date is None
        or (
            existing.dissolution_office_code == wanted.dissolution_office_code
            and wanted.dissolution_number in (None, existing.dissolution_number)
        )
    )
    if not same:
        raise _differs("marriage")
    return Outcome.UNCHANGED


def _dissolve_if_asked(
    session: Session, marriage_id: str, wanted: _MarriageRow, actor: Actor
) -> None:
    if wanted.dissolution_date is None or wanted.dissolution_office_code is None:
        return
    marriages.dissolve_marriage(
        session,
        marriage_id,
        office_code=wanted.dissolution_office_code,
        dissolution_date=wanted.dissolution_date,
        dissolution_number=wanted.dissolution_number,
        actor=actor,
    )


def _marriage_row(session: Session, sealer: Sealer, row: Row) -> _MarriageRow:
    spouses = tuple(
        persons.person_row_by_id_number(session, sealer, row[column].strip()).id
        for column in ("spouse_a_id_number", "spouse_b_id_number")
    )
    dissolution_date = _optional_date(row.get("dissolution_date"), "dissolution_date")
    dissolution_office = (row.get("dissolution_office_code") or "").strip() or None
    if (dissolution_date is None) != (dissolution_office is None):
        raise ValidationFailed(
            "dissolution_date and dissolution_office_code go together",
            code="dissolution_incomplete",
        )
    number = (row.get("dissolution_number") or "").strip() or None
    return _MarriageRow(
        certificate_number=check_certificate_number(row["certificate_number"].strip()),
        office_code=row["office_code"].strip(),
        registration_date=_date(row["registration_date"], "registration_date"),
        spouse_ids=(spouses[0], spouses[1]),
        dissolution_date=dissolution_date,
        dissolution_office_code=dissolution_office,
        dissolution_number=check_certificate_number(number) if number else None,
    )


# --- fields ---------------------------------------------------------------------------


def _sex(value: str) -> Sex:
    sex = _SEXES.get(value.strip().upper())
    if sex is None:
        raise ValidationFailed("sex must be M or F", code="sex_invalid")
    return sex


def _date(value: str, column: str) -> dt.date:
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{column} must be a real date written YYYY-MM-DD", code="date_invalid", column=column
        ) from None


def _optional_date(value: str | None, column: str) -> dt.date | None:
    return _date(value, column) if value and value.strip() else None


def _differs(what: str) -> Conflict:
    return Conflict(
        f"the row differs from the {what} already on record", code="row_conflicts_with_record"
    )


_HANDLERS: dict[ImportKind, Handler] = {
    ImportKind.PERSONS: _import_person,
    ImportKind.MARRIAGES: _import_marriage,
}
