"""Cross-source: training against yield, DPMO and complaints per line and period.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_outcomes",
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.String(length=40), nullable=False),
        sa.Column("training_compliance", sa.Float(), nullable=True),
        sa.Column("training_completion", sa.Float(), nullable=True),
        sa.Column("first_pass_yield", sa.Float(), nullable=True),
        sa.Column("dpmo", sa.Float(), nullable=True),
        sa.Column("complaints", sa.Float(), nullable=True),
        sa.Column("compliance_fpy_correlation", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("period", "period_start", "line_id", name=op.f("pk_training_outcomes")),
    )


def downgrade() -> None:
    op.drop_table("training_outcomes")
