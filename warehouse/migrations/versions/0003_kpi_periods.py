"""Weekly and monthly KPI rows from summed daily counts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_period",
        sa.Column("kpi", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.String(length=40), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("grain", sa.String(length=20), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=False),
        sa.Column("denominator", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=250), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("period in ('week', 'month')", name=op.f("ck_kpi_period_period")),
        sa.PrimaryKeyConstraint(
            "kpi", "period", "period_start", "site_id", "line_id", "step_id", name=op.f("pk_kpi_period")
        ),
    )


def downgrade() -> None:
    op.drop_table("kpi_period")
