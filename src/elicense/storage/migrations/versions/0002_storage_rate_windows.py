"""storage: shared rate-limit windows

Revision ID: 0002_storage_rate_windows
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_storage_rate_windows"
down_revision = "0001_storage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.Integer(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
