"""proofing: sessions, seen frames, identity locks, verified identities

Revision ID: 0400_proofing
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0400_proofing"
down_revision = "0001_storage"
branch_labels = ("proofing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proofing_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("id_number_index", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("challenge", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
    )
    op.create_index(
        "ix_proofing_sessions_id_number_index", "proofing_sessions", ["id_number_index"]
    )
    op.create_index("ix_proofing_sessions_created_at", "proofing_sessions", ["created_at"])
    op.create_table(
        "proofing_seen_frames",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "proofing_identity_locks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("id_number_index", sa.String(64), nullable=False),
        sa.Column("locked_at", UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("unlocked_at", UTCDateTime(), nullable=True),
        sa.Column("unlocked_by", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_proofing_identity_locks_id_number_index",
        "proofing_identity_locks",
        ["id_number_index"],
    )
    op.create_table(
        "proofing_verified_identities",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("evidence", sa.String(64), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_proofing_verified_identities_person_id",
        "proofing_verified_identities",
        ["person_id"],
    )


def downgrade() -> None:
    for table in (
        "proofing_verified_identities",
        "proofing_identity_locks",
        "proofing_seen_frames",
        "proofing_sessions",
    ):
        op.drop_table(table)
