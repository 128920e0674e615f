"""Daily customer account snapshots (active, new, churned), derived from the account dimension.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fact_customer_snapshot",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_new", sa.Boolean(), nullable=False),
        sa.Column("churned", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_date", "customer_id", name=op.f("pk_fact_customer_snapshot")),
    )
    with op.batch_alter_table("fact_customer_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fact_customer_snapshot_site_id_snapshot_date"), ["site_id", "snapshot_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fact_customer_snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_customer_snapshot_site_id_snapshot_date"))

    op.drop_table("fact_customer_snapshot")
