"""Extraction events: skipped re-deliveries, refused or broken files, new columns, sources that stayed down.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The collation follows revision 0010: strings compare bytewise on PostgreSQL.
    text_c = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    op.create_table(
        "extraction_event",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(60).with_variant(sa.String(60, collation="C"), "postgresql"), nullable=False),
        sa.Column("kind", sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql"), nullable=False),
        sa.Column("subject", text_c, nullable=False),
        sa.Column("detail", text_c, nullable=False),
        sa.Column("batch_id", sa.String(120).with_variant(sa.String(120, collation="C"), "postgresql"), nullable=True),
        sa.Column(
            "pipeline_run_id", sa.String(250).with_variant(sa.String(250, collation="C"), "postgresql"), nullable=True
        ),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_extraction_event")),
    )
    op.create_index(
        op.f("ix_extraction_event_dataset_occurred_at"), "extraction_event", ["dataset", "occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_extraction_event_dataset_occurred_at"), table_name="extraction_event")
    op.drop_table("extraction_event")
