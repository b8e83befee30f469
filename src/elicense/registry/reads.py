"""Registry reads for issuing: the records a credential derives from, by two readers.

* :class:`SessionReader` reads through the registry's service functions on an ORM
  session (offers, life events, anything not on a hot path);
* :class:`CursorReader` reads the same records with statements compiled once per
  dialect (:mod:`elicense.storage.prepared`) on a driver cursor, inside the caller's
  transaction: the credential endpoint, where an ORM unit of work per record cost more
  than everything else the request does.

Both return the registry's own record types, built by the registry's own converters, so
claims derive from either the same way.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Sequence
from typing import Any, Protocol, cast

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

from elicense.errors import NotFound
from elicense.registry import health, marriages, offices, persons, travel
from elicense.registry.health import HealthEnrollmentRecord
from elicense.registry.models import (
    ActiveUnion,
    HealthEnrollment,
    Marriage,
    Office,
    Person,
    TravelPermit,
)
from elicense.registry.travel import TravelPermitRecord
from elicense.registry.types import MarriageRecord, PersonRecord
from elicense.storage.prepared import PerDialect, Prepared
from elicense.storage.sealing import Sealer


@dataclasses.dataclass(frozen=True, slots=True)
class MarriageOf:
    """A person's current marriage with everything a marriage license names."""

    holder: PersonRecord
    marriage: MarriageRecord
    spouse: PersonRecord
    office_name: str


class RegistryReader(Protocol):
    def person(self, person_id: str) -> PersonRecord: ...

    def current_marriage(self, person_id: str) -> MarriageRecord | None: ...

    def marriage_of(self, person_id: str) -> MarriageOf | None:
        """The current marriage with both spouses and the office's name (``None``: not
        married, or no such person)."""
        ...

    def office_name(self, code: str) -> str: ...

    def active_health_enrollment(self, person_id: str) -> HealthEnrollmentRecord | None: ...

    def active_travel_permit(self, person_id: str) -> TravelPermitRecord | None: ...


class SessionReader:
    """Through the registry service on an ORM session."""

    def __init__(self, session: Any, sealer: Sealer) -> None:
        self.session, self.sealer = session, sealer

    def person(self, person_id: str) -> PersonRecord:
        return persons.get_person(self.session, self.sealer, person_id)

    def current_marriage(self, person_id: str) -> MarriageRecord | None:
        return marriages.marital_status(self.session, person_id).current

    def marriage_of(self, person_id: str) -> MarriageOf | None:
        try:
            marriage = self.current_marriage(person_id)
        except NotFound:  # no such person: ``None``, as the one-statement reader says
            return None
        if marriage is None:
            return None
        spouse_id = _other(marriage, person_id)
        return MarriageOf(
            self.person(person_id),
            marriage,
            self.person(spouse_id),
            self.office_name(marriage.office_code),
        )

    def office_name(self, code: str) -> str:
        return offices.get_office(self.session, code).name

    def active_health_enrollment(self, person_id: str) -> HealthEnrollmentRecord | None:
        return health.active_health_enrollment(self.session, person_id)

    def active_travel_permit(self, person_id: str) -> TravelPermitRecord | None:
        return travel.active_travel_permit(self.session, person_id)


def _other(marriage: MarriageRecord, person_id: str) -> str:
    return next(s for s in marriage.spouse_ids if s != person_id)


class _Query:
    """A compiled SELECT and its column keys: rows come back as attribute namespaces
    that the registry's converters read like ORM rows."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.prepared = Prepared.compile(statement, dialect)
        self.keys = tuple(str(c.key) for c in statement.selected_columns)

    def rows(self, cursor: Any, values: dict[str, Any]) -> list[Any]:
        return [
            types.SimpleNamespace(**dict(zip(self.keys, row, strict=True)))
            for row in self.prepared.all(cursor, values)
        ]

    def one(self, cursor: Any, values: dict[str, Any]) -> Any | None:
        found = self.rows(cursor, values)
        return found[0] if found else None


def _columns(model: Any) -> Sequence[Any]:
    return list(model.__table__.columns)


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        person_columns = [
            c for c in _columns(Person) if c.key not in ("reference_template_sealed",)
        ]
        # NULL when there is no template (what the converter asks); the template stays put
        has_template = func.length(Person.reference_template_sealed).label(
            "reference_template_sealed"
        )
        self.person = _Query(
            select(*person_columns, has_template).where(Person.id == _param("person_id")),
            dialect,
        )
        self.marriage = _Query(
            select(*_columns(Marriage))
            .join(ActiveUnion, ActiveUnion.marriage_id == Marriage.id)
            .where(ActiveUnion.person_id == _param("person_id"), Marriage.dissolved_on.is_(None)),
            dialect,
        )
        self.office = _Query(select(Office.name).where(Office.code == _param("code")), dialect)
        # the current marriage, its office's name and both spouses, one row per spouse
        self.marriage_of = _Query(
            select(
                *(c.label(_MARRIAGE + c.key) for c in _columns(Marriage)),
                Office.name.label("office_name"),
                *person_columns,
                has_template,
            )
            .join(ActiveUnion, ActiveUnion.marriage_id == Marriage.id)
            .join(Office, Office.code == Marriage.office_code)
            .join(Person, or_(Person.id == Marriage.spouse_a_id, Person.id == Marriage.spouse_b_id))
            .where(ActiveUnion.person_id == _param("person_id"), Marriage.dissolved_on.is_(None)),
            dialect,
        )
        self.health = _Query(
            select(*_columns(HealthEnrollment))
            .where(
                HealthEnrollment.person_id == _param("person_id"),
                HealthEnrollment.cancelled_on.is_(None),
            )
            .limit(1),
            dialect,
        )
        self.travel = _Query(
            select(*_columns(TravelPermit))
            .where(
                TravelPermit.person_id == _param("person_id"),
                TravelPermit.cancelled_on.is_(None),
            )
            .order_by(TravelPermit.created_at.desc()),
            dialect,
        )


def _param(name: str) -> Any:
    return bindparam(name)


_MARRIAGE = "marriage__"  # the marriage's columns in :attr:`_Statements.marriage_of`


_statements = PerDialect(_Statements)


class CursorReader:
    """Prepared statements on a driver cursor (the caller's transaction)."""

    def __init__(self, cursor: Any, dialect: Dialect, sealer: Sealer) -> None:
        self.cursor, self.sealer = cursor, sealer
        self.statements = _statements(dialect)

    def person(self, person_id: str) -> PersonRecord:
        row = self.statements.person.one(self.cursor, {"person_id": person_id})
        if row is None:
            raise NotFound("no person with this id", code="person_not_found")
        return persons.to_record(cast(Person, row), self.sealer)

    def current_marriage(self, person_id: str) -> MarriageRecord | None:
        row = self.statements.marriage.one(self.cursor, {"person_id": person_id})
        return None if row is None else marriages.to_record(cast(Marriage, row))

    def marriage_of(self, person_id: str) -> MarriageOf | None:
        rows = self.statements.marriage_of.rows(self.cursor, {"person_id": person_id})
        if not rows:
            return None
        first = vars(rows[0])
        marriage = types.SimpleNamespace(
            **{k[len(_MARRIAGE) :]: v for k, v in first.items() if k.startswith(_MARRIAGE)}
        )
        record = marriages.to_record(cast(Marriage, marriage))
        people = {row.id: persons.to_record(cast(Person, row), self.sealer) for row in rows}
        return MarriageOf(
            people[person_id], record, people[_other(record, person_id)], str(first["office_name"])
        )

    def office_name(self, code: str) -> str:
        row = self.statements.office.one(self.cursor, {"code": code})
        if row is None:
            raise NotFound("no office with this code", code="office_unknown")
        return str(row.name)

    def active_health_enrollment(self, person_id: str) -> HealthEnrollmentRecord | None:
        row = self.statements.health.one(self.cursor, {"person_id": person_id})
        return None if row is None else health.record_of(cast(HealthEnrollment, row))

    def active_travel_permit(self, person_id: str) -> TravelPermitRecord | None:
        for row in self.statements.travel.rows(self.cursor, {"person_id": person_id}):
            record = travel.record_of(cast(TravelPermit, row))
            if record.active:
                return record
        return None
