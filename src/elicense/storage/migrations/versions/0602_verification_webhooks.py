"""verification: durable webhook deliveries (retried with backoff, idempotency id)

Revision ID: 0602_verification_webhooks
Revises: 0601_verification_req_objects
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0602_verification_webhooks"
down_revision = "0601_verification_req_objects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_webhook_deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("rp_id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("body_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["verification_requests.id"],
            name="fk_verification_webhook_deliveries_request_id",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verification_webhook_deliveries"),
        sa.UniqueConstraint("request_id", name="uq_verification_webhook_deliveries_request_id"),
    )
    op.create_index(
        "ix_verification_webhook_deliveries_next_attempt_at",
        "verification_webhook_deliveries",
        ["next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_verification_webhook_deliveries_next_attempt_at", "verification_webhook_deliveries"
    )
    op.drop_table("verification_webhook_deliveries")
