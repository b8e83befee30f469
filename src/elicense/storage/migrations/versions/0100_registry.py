"""registry: persons, offices, slots, appointments, marriages, clerks, tokens, audit log

Revision ID: 0100_registry
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0100_registry"
down_revision = "0001_storage"
branch_labels = ("registry",)
depends_on = None

ID = sa.String(40)

_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER registry_audit_log_no_update BEFORE UPDATE ON registry_audit_log "
        "BEGIN SELECT RAISE(ABORT, 'registry_audit_log is append-only'); END",
        "CREATE TRIGGER registry_audit_log_no_delete BEFORE DELETE ON registry_audit_log "
        "BEGIN SELECT RAISE(ABORT, 'registry_audit_log is append-only'); END",
        "CREATE TRIGGER registry_marriages_no_delete BEFORE DELETE ON registry_marriages "
        "BEGIN SELECT RAISE(ABORT, 'registry_marriages keeps full history'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION registry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
        "CREATE TRIGGER registry_audit_log_append_only BEFORE UPDATE OR DELETE "
        "ON registry_audit_log FOR EACH ROW EXECUTE FUNCTION registry_refuse_change()",
        "CREATE TRIGGER registry_audit_log_no_truncate BEFORE TRUNCATE "
        "ON registry_audit_log FOR EACH STATEMENT EXECUTE FUNCTION registry_refuse_change()",
        "CREATE TRIGGER registry_marriages_no_delete BEFORE DELETE "
        "ON registry_marriages FOR EACH ROW EXECUTE FUNCTION registry_refuse_change()",
    ],
}


def _fk(column: str, target: str) -> sa.Column[str]:
    ref_table = target.split(".")[0]
    return sa.Column(
        column,
        ID if ref_table != "registry_offices" else sa.String(16),
        sa.ForeignKey(target),
        nullable=False,
    )


def _ix(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    _persons_and_offices()
    _slots_and_appointments()
    _marriages()
    _clerks_and_audit()
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def _persons_and_offices() -> None:
    op.create_table(
        "registry_persons",
        sa.Column("id", ID, nullable=False),
        sa.Column("id_number_index", sa.String(64), nullable=False),
        sa.Column("id_number_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("name_latin", sa.String(128), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("nationality", sa.String(3), nullable=False),
        sa.Column("household_region", sa.String(6), nullable=False),
        sa.Column("reference_template_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("reference_template_updated_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_persons"),
        sa.UniqueConstraint("id_number_index", name="uq_registry_persons_id_number_index"),
        sa.CheckConstraint("sex IN ('M', 'F')", name="ck_registry_persons_sex"),
    )
    op.create_table(
        "registry_offices",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("marriage_prefix", sa.String(16), nullable=False),
        sa.Column("divorce_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_registry_offices"),
    )
    op.create_table(
        "registry_certificate_counters",
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name="pk_registry_certificate_counters"),
    )


def _slots_and_appointments() -> None:
    op.create_table(
        "registry_slots",
        sa.Column("id", ID, nullable=False),
        _fk("office_code", "registry_offices.code"),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_slots"),
        sa.CheckConstraint(
            "booked >= 0 AND booked <= capacity", name="ck_registry_slots_booked_within_capacity"
        ),
        sa.CheckConstraint("capacity > 0", name="ck_registry_slots_capacity_positive"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_registry_slots_ends_after_start"),
    )
    _ix("registry_slots", "office_code")
    _ix("registry_slots", "starts_at")
    op.create_table(
        "registry_appointments",
        sa.Column("id", ID, nullable=False),
        _fk("slot_id", "registry_slots.id"),
        _fk("partner_a_id", "registry_persons.id"),
        _fk("partner_b_id", "registry_persons.id"),
        sa.Column("code_hash_a", sa.String(64), nullable=False),
        sa.Column("code_hash_b", sa.String(64), nullable=False),
        sa.Column("confirmed_a_at", UTCDateTime(), nullable=True),
        sa.Column("confirmed_b_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("marriage_id", ID, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_appointments"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'completed')",
            name="ck_registry_appointments_status",
        ),
        sa.CheckConstraint(
            "partner_a_id <> partner_b_id", name="ck_registry_appointments_two_partners"
        ),
    )
    for column in ("slot_id", "partner_a_id", "partner_b_id"):
        _ix("registry_appointments", column)
    op.create_table(
        "registry_appointment_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _fk("appointment_id", "registry_appointments.id"),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("from_slot_id", ID, nullable=True),
        sa.Column("to_slot_id", ID, nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    _ix("registry_appointment_changes", "appointment_id")
    op.create_table(
        "registry_active_bookings",
        _fk("person_id", "registry_persons.id"),
        _fk("appointment_id", "registry_appointments.id"),
        sa.PrimaryKeyConstraint("person_id", name="pk_registry_active_bookings"),
    )


def _marriages() -> None:
    op.create_table(
        "registry_marriages",
        sa.Column("id", ID, nullable=False),
        sa.Column("certificate_number", sa.String(40), nullable=False),
        _fk("office_code", "registry_offices.code"),
        sa.Column("registration_date", sa.Date(), nullable=False),
        _fk("spouse_a_id", "registry_persons.id"),
        _fk("spouse_b_id", "registry_persons.id"),
        sa.Column("appointment_id", ID, nullable=True),
        sa.Column("dissolved_on", sa.Date(), nullable=True),
        sa.Column(
            "dissolution_office_code",
            sa.String(16),
            sa.ForeignKey("registry_offices.code"),
            nullable=True,
        ),
        sa.Column("dissolution_number", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_marriages"),
        sa.UniqueConstraint("certificate_number", name="uq_registry_marriages_certificate_number"),
        sa.UniqueConstraint("dissolution_number", name="uq_registry_marriages_dissolution_number"),
        sa.CheckConstraint("spouse_a_id <> spouse_b_id", name="ck_registry_marriages_two_spouses"),
    )
    _ix("registry_marriages", "spouse_a_id")
    _ix("registry_marriages", "spouse_b_id")
    op.create_table(
        "registry_active_unions",
        _fk("person_id", "registry_persons.id"),
        _fk("marriage_id", "registry_marriages.id"),
        sa.PrimaryKeyConstraint("person_id", name="pk_registry_active_unions"),
    )
    _ix("registry_active_unions", "marriage_id")


def _clerks_and_audit() -> None:
    op.create_table(
        "registry_clerks",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_clerks"),
        sa.UniqueConstraint("username", name="uq_registry_clerks_username"),
        sa.CheckConstraint(
            "role IN ('registrar', 'auditor', 'admin')", name="ck_registry_clerks_role"
        ),
    )
    op.create_table(
        "registry_api_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        _fk("clerk_id", "registry_clerks.id"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_registry_api_tokens"),
    )
    _ix("registry_api_tokens", "clerk_id")
    op.create_table(
        "registry_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_audit_log"),
    )
    _ix("registry_audit_log", "action")
    _ix("registry_audit_log", "target_id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS registry_marriages_no_delete ON registry_marriages")
    for table in (
        "registry_audit_log",
        "registry_api_tokens",
        "registry_clerks",
        "registry_active_unions",
        "registry_marriages",
        "registry_active_bookings",
        "registry_appointment_changes",
        "registry_appointments",
        "registry_slots",
        "registry_certificate_counters",
        "registry_offices",
        "registry_persons",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS registry_refuse_change()")
