"""registry: health insurance enrolments and travel permits (health card, travel pass)

Revision ID: 0101_registry_health_travel
Revises: 0100_registry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0101_registry_health_travel"
down_revision = "0100_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_health_enrollments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("card_number", sa.String(length=32), nullable=False),
        sa.Column("insured_region", sa.String(length=6), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_registry_health_enrollments_person_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_health_enrollments")),
        sa.UniqueConstraint("card_number", name=op.f("uq_registry_health_enrollments_card_number")),
    )
    op.create_index(
        op.f("ix_registry_health_enrollments_person_id"),
        "registry_health_enrollments",
        ["person_id"],
        unique=False,
    )
    op.create_table(
        "registry_travel_permits",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("endorsement_type", sa.String(length=32), nullable=False),
        sa.Column("permitted_entries", sa.Integer(), nullable=False),
        sa.Column("endorsement_valid_from", sa.Date(), nullable=False),
        sa.Column("endorsement_valid_until", sa.Date(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_registry_travel_permits_person_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_travel_permits")),
        sa.UniqueConstraint("number", name=op.f("uq_registry_travel_permits_number")),
    )
    op.create_index(
        op.f("ix_registry_travel_permits_person_id"),
        "registry_travel_permits",
        ["person_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_registry_travel_permits_person_id", "registry_travel_permits")
    op.drop_table("registry_travel_permits")
    op.drop_index("ix_registry_health_enrollments_person_id", "registry_health_enrollments")
    op.drop_table("registry_health_enrollments")
