"""status: status lists, index allocations, signed token cache

Revision ID: 0300_status
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0300_status"
down_revision = "0001_storage"
branch_labels = ("status",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_lists",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("signing_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_status_lists"),
    )
    op.create_index("ix_status_lists_purpose", "status_lists", ["purpose"])
    op.create_table(
        "status_allocations",
        sa.Column("list_id", sa.String(40), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("credential_ref", sa.String(128), nullable=False),
        sa.Column("allocated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["status_lists.id"],
            name="fk_status_allocations_list_id_status_lists",
        ),
        sa.PrimaryKeyConstraint("list_id", "idx", name="pk_status_allocations"),
        sa.UniqueConstraint("credential_ref", name="uq_status_allocations_credential_ref"),
    )
    op.create_table(
        "status_list_tokens",
        sa.Column("list_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(8), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["status_lists.id"],
            name="fk_status_list_tokens_list_id_status_lists",
        ),
        sa.PrimaryKeyConstraint("list_id", "version", "form", name="pk_status_list_tokens"),
    )


def downgrade() -> None:
    op.drop_table("status_list_tokens")
    op.drop_table("status_allocations")
    op.drop_index("ix_status_lists_purpose", "status_lists")
    op.drop_table("status_lists")
