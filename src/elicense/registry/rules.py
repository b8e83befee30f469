"""Who may marry whom (PRC Civil Code, art. 1047 and 1051): the checks, with their codes.

* ``same_person`` — both partners are one person (422);
* ``under_legal_age`` — a man under 22 or a woman under 20 on the registration date (422);
* ``already_married`` — a partner is in an active marriage (409). The check here gives
  the clear message; the primary key of ``registry_active_unions`` is what makes it hold
  under concurrent registrations.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicense.errors import Conflict, ValidationFailed
from elicense.registry.models import ActiveUnion, Person
from elicense.registry.resident_id import Sex

LEGAL_AGE = {Sex.MALE: 22, Sex.FEMALE: 20}


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on`` (a 29 February birthday counts on 1 March)."""
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - (1 if before_birthday else 0)


def check_couple(session: Session, a: Person, b: Person, *, on: dt.date) -> None:
    """Raise the first rule the couple breaks for a marriage on ``on``."""
    if a.id == b.id:
        raise ValidationFailed("both partners are the same person", code="same_person")
    for person in (a, b):
        check_legal_age(person, on)
    for person in (a, b):
        check_not_married(session, person.id)


def check_legal_age(person: Person, on: dt.date) -> None:
    minimum = LEGAL_AGE[Sex(person.sex)]
    if age_on(person.birth_date, on) < minimum:
        raise ValidationFailed(
            f"a partner is under the legal marriage age ({minimum} for "
            f"{'men' if person.sex == Sex.MALE else 'women'})",
            code="under_legal_age",
            person_id=person.id,
        )


def check_not_married(session: Session, person_id: str) -> None:
    if is_married(session, person_id):
        raise already_married(person_id)


def is_married(session: Session, person_id: str) -> bool:
    query = select(ActiveUnion.person_id).where(ActiveUnion.person_id == person_id)
    return session.scalar(query) is not None


def already_married(person_id: str | None = None) -> Conflict:
    extra = {"person_id": person_id} if person_id else {}
    return Conflict("a partner is already married", code="already_married", **extra)
