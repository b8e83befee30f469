"""verification: relying parties, OpenID4VP requests and results, verification history

Revision ID: 0600_verification
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0600_verification"
down_revision = "0001_storage"
branch_labels = ("verification",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_rps",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("sector", sa.String(40), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("client_host", sa.String(253), nullable=False),
        sa.Column("client_id", sa.String(300), nullable=False),
        sa.Column("grants", sa.JSON(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("access_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_verification_rps"),
        sa.UniqueConstraint("uscc", name="uq_verification_rps_uscc"),
        sa.UniqueConstraint("client_host", name="uq_verification_rps_client_host"),
        sa.UniqueConstraint("client_id", name="uq_verification_rps_client_id"),
    )
    op.create_table(
        "verification_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("rp_id", sa.String(40), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("dcql_query", sa.JSON(), nullable=False),
        sa.Column("response_mode", sa.String(20), nullable=False),
        sa.Column("request_object", sa.Text(), nullable=False),
        sa.Column("decryption_key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("result_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("result_expires_at", UTCDateTime(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rp_id"],
            ["verification_rps.id"],
            name="fk_verification_requests_rp_id_verification_rps",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verification_requests"),
        sa.UniqueConstraint("nonce", name="uq_verification_requests_nonce"),
    )
    op.create_index("ix_verification_requests_rp_id", "verification_requests", ["rp_id"])
    op.create_index(
        "ix_verification_requests_result_expires_at", "verification_requests", ["result_expires_at"]
    )
    op.create_table(
        "verification_history",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("rp_id", sa.String(40), nullable=False),
        sa.Column("rp_name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("credential_types", sa.JSON(), nullable=False),
        sa.Column("claim_names", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("holder_thumbprint", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verification_history"),
    )
    for column in ("holder_thumbprint", "rp_id", "request_id"):
        op.create_index(f"ix_verification_history_{column}", "verification_history", [column])


def downgrade() -> None:
    for column in ("holder_thumbprint", "rp_id", "request_id"):
        op.drop_index(f"ix_verification_history_{column}", "verification_history")
    op.drop_table("verification_history")
    op.drop_index("ix_verification_requests_result_expires_at", "verification_requests")
    op.drop_index("ix_verification_requests_rp_id", "verification_requests")
    op.drop_table("verification_requests")
    op.drop_table("verification_rps")
