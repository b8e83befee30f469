"""storage: transactional outbox

Revision ID: 0001_storage
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0001_storage"
down_revision = None
branch_labels = ("storage",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_outbox_events_event_type", "outbox_events", ["event_type"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("outbox_events.id"), primary_key=True),
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_deliveries")
    op.drop_index("ix_outbox_events_event_type", "outbox_events")
    op.drop_table("outbox_events")
