"""The registry's public service API: the functions other parts and the API call.

Business rules live in one module per concept (:mod:`.persons`, :mod:`.offices`,
:mod:`.appointments`, :mod:`.marriages`, :mod:`.clerks`, :mod:`.audit`); this module
gathers them so that callers import from one place. Every function takes the caller's
:class:`~sqlalchemy.orm.Session` (the caller owns the transaction), raises typed
:mod:`elicense.errors` with stable codes, writes outbox events and audit rows in the same
transaction, and returns typed records from :mod:`.types` — never ORM rows.
"""

from __future__ import annotations

from elicense.registry.appointments import (
    book_appointment,
    cancel_appointment,
    confirm_appointment,
    get_appointment,
    reschedule_appointment,
)
from elicense.registry.audit import entries as audit_entries
from elicense.registry.clerks import (
    actor_for_token,
    authenticate,
    create_clerk,
    deactivate_clerk,
    get_clerk,
    issue_token,
    login,
    require_role,
    revoke_token,
    set_password,
)
from elicense.registry.health import (
    HealthEnrollmentRecord,
    active_health_enrollment,
    cancel_health_enrollment,
    enroll_health,
    get_health_enrollment,
)
from elicense.registry.marriages import (
    dissolve_marriage,
    find_marriage_by_certificate,
    get_marriage,
    marital_status,
    marriage_history,
    register_marriage,
    register_marriage_at_appointment,
)
from elicense.registry.offices import (
    create_office,
    create_slot,
    get_office,
    get_slot,
    list_free_slots,
    list_offices,
)
from elicense.registry.persons import (
    create_person,
    find_person_by_id_number,
    get_person,
    get_reference_template,
    set_reference_template,
    update_person_name,
)
from elicense.registry.travel import (
    Endorsement,
    TravelPermitRecord,
    active_travel_permit,
    cancel_travel_permit,
    endorse_travel_permit,
    get_travel_permit,
    issue_travel_permit,
)
from elicense.registry.types import *  # noqa: F403  (the records travel with the functions)
from elicense.registry.types import __all__ as _types

__all__ = [
    *_types,
    "Endorsement",
    "HealthEnrollmentRecord",
    "TravelPermitRecord",
    "active_health_enrollment",
    "active_travel_permit",
    "cancel_health_enrollment",
    "cancel_travel_permit",
    "endorse_travel_permit",
    "enroll_health",
    "get_health_enrollment",
    "get_travel_permit",
    "issue_travel_permit",
    "actor_for_token",
    "audit_entries",
    "authenticate",
    "book_appointment",
    "cancel_appointment",
    "confirm_appointment",
    "create_clerk",
    "create_office",
    "create_person",
    "create_slot",
    "deactivate_clerk",
    "dissolve_marriage",
    "find_marriage_by_certificate",
    "find_person_by_id_number",
    "get_appointment",
    "get_clerk",
    "get_marriage",
    "get_office",
    "get_person",
    "get_reference_template",
    "get_slot",
    "issue_token",
    "list_free_slots",
    "list_offices",
    "login",
    "marital_status",
    "marriage_history",
    "register_marriage",
    "register_marriage_at_appointment",
    "require_role",
    "reschedule_appointment",
    "revoke_token",
    "set_password",
    "set_reference_template",
    "update_person_name",
]
