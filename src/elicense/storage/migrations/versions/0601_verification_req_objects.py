"""verification: signed request objects move to a table of their own

The response path rewrites the request row (state, sealed result); SQLite rewrites a row
whole, so a request object of several KB in it was rewritten (its overflow pages freed
and chained again) with every response.

Revision ID: 0601_verification_req_objects
Revises: 0600_verification
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0601_verification_req_objects"
down_revision = "0600_verification"
branch_labels = None
depends_on = None

_FK = "fk_verification_request_objects_request_id"


def upgrade() -> None:
    # Created without its foreign key first: on SQLite, dropping the column rebuilds
    # verification_requests (copy, drop, rename), and dropping a table that rows of
    # another table refer to fails while foreign keys are enforced.
    op.create_table(
        "verification_request_objects",
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("request_object", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_verification_request_objects"),
    )
    op.execute(
        "INSERT INTO verification_request_objects (request_id, request_object) "
        "SELECT id, request_object FROM verification_requests"
    )
    with op.batch_alter_table("verification_requests") as batch:
        batch.drop_column("request_object")
    with op.batch_alter_table("verification_request_objects") as batch:
        batch.create_foreign_key(_FK, "verification_requests", ["request_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("verification_request_objects") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
    with op.batch_alter_table("verification_requests") as batch:
        batch.add_column(sa.Column("request_object", sa.Text(), nullable=True))
    op.execute(
        "UPDATE verification_requests SET request_object = (SELECT o.request_object "
        "FROM verification_request_objects o WHERE o.request_id = verification_requests.id)"
    )
    with op.batch_alter_table("verification_requests") as batch:
        batch.alter_column("request_object", existing_type=sa.Text(), nullable=False)
    op.drop_table("verification_request_objects")
