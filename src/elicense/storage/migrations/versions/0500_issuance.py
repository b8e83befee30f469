"""issuance: offers, access tokens, nonces, DPoP proof ids, issued credentials

Revision ID: 0500_issuance
Revises: 0001_storage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from elicense.storage.base import UTCDateTime

revision = "0500_issuance"
down_revision = "0001_storage"
branch_labels = ("issuance",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuance_access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("configuration_ids", sa.JSON(), nullable=False),
        sa.Column("dpop_jkt", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_issuance_access_tokens")),
    )
    op.create_index(
        op.f("ix_issuance_access_tokens_offer_id"),
        "issuance_access_tokens",
        ["offer_id"],
        unique=False,
    )
    op.create_table(
        "issuance_credentials",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("status_uri", sa.String(length=256), nullable=False),
        sa.Column("status_idx", sa.Integer(), nullable=False),
        sa.Column("holder_jkt", sa.String(length=64), nullable=False),
        sa.Column("notification_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("proof_index", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance_credentials")),
        sa.UniqueConstraint(
            "token_hash",
            "request_hash",
            "proof_index",
            name=op.f("uq_issuance_credentials_token_hash"),
        ),
    )
    op.create_index(
        op.f("ix_issuance_credentials_notification_id"),
        "issuance_credentials",
        ["notification_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_issuance_credentials_person_id"),
        "issuance_credentials",
        ["person_id"],
        unique=False,
    )
    op.create_index(
        "ix_issuance_credentials_source",
        "issuance_credentials",
        ["configuration_id", "source_id"],
        unique=False,
    )
    op.create_table(
        "issuance_dpop_jtis",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash", name=op.f("pk_issuance_dpop_jtis")),
    )
    op.create_index(
        op.f("ix_issuance_dpop_jtis_expires_at"), "issuance_dpop_jtis", ["expires_at"], unique=False
    )
    op.create_table(
        "issuance_nonces",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nonce_hash", name=op.f("pk_issuance_nonces")),
    )
    op.create_index(
        op.f("ix_issuance_nonces_expires_at"), "issuance_nonces", ["expires_at"], unique=False
    )
    op.create_table(
        "issuance_offers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("configuration_ids", sa.JSON(), nullable=False),
        sa.Column("verified_identity_id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("tx_code_hash", sa.String(length=64), nullable=True),
        sa.Column("tx_code_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("redeemed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance_offers")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_issuance_offers_code_hash")),
    )
    op.create_index(
        op.f("ix_issuance_offers_person_id"), "issuance_offers", ["person_id"], unique=False
    )


def downgrade() -> None:
    for table, indexes in (
        ("issuance_offers", ["ix_issuance_offers_person_id"]),
        ("issuance_nonces", ["ix_issuance_nonces_expires_at"]),
        ("issuance_dpop_jtis", ["ix_issuance_dpop_jtis_expires_at"]),
        (
            "issuance_credentials",
            [
                "ix_issuance_credentials_source",
                "ix_issuance_credentials_person_id",
                "ix_issuance_credentials_notification_id",
            ],
        ),
        ("issuance_access_tokens", ["ix_issuance_access_tokens_offer_id"]),
    ):
        for index in indexes:
            op.drop_index(index, table)
        op.drop_table(table)
