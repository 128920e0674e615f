"""Training as a leading indicator: per line, how its outcome KPI follows its training (lag, strength, n).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def _key(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "training_lead",
        sa.Column("site_id", _key(40), nullable=False),
        sa.Column("line_id", _key(40), nullable=False),
        sa.Column("kpi", _key(40), nullable=False),
        sa.Column("outcome_kpi", _key(40), nullable=False),
        sa.Column("lag_days", sa.Integer(), nullable=True),
        sa.Column("correlation", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("pair_count", sa.Integer(), nullable=True),
        sa.Column("effective_pairs", sa.Float(), nullable=True),
        sa.Column("is_established", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("line_id", "kpi", "outcome_kpi", name=op.f("pk_training_lead")),
    )


def downgrade() -> None:
    bi = "bi." if op.get_bind().dialect.name == "postgresql" else "bi_"
    op.execute(f"drop view if exists {bi}training_leads")
    op.drop_table("training_lead")
