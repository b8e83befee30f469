"""issuance: re-offers after a registry change; index on holder key thumbprints

Revision ID: 0501_issuance_reoffers
Revises: 0500_issuance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0501_issuance_reoffers"
down_revision = "0500_issuance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuance_reoffers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("holder_jkts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("offer_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("state_changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance_reoffers")),
        sa.UniqueConstraint(
            "event_id",
            "person_id",
            "configuration_id",
            "source_id",
            name=op.f("uq_issuance_reoffers_event_id"),
        ),
    )
    op.create_index(
        op.f("ix_issuance_reoffers_person_id"), "issuance_reoffers", ["person_id"], unique=False
    )
    op.create_index(
        "ix_issuance_credentials_holder_jkt", "issuance_credentials", ["holder_jkt"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_issuance_credentials_holder_jkt", table_name="issuance_credentials")
    op.drop_index(op.f("ix_issuance_reoffers_person_id"), table_name="issuance_reoffers")
    op.drop_table("issuance_reoffers")
