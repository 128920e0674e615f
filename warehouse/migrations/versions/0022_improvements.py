"""The improvement register and each improvement's effect (KPIS.md: before/after of an improvement).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "improvement",
        sa.Column(
            "improvement_id", sa.String(80).with_variant(sa.String(80, collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("name", sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql"), nullable=False),
        sa.Column("change_date", sa.Date(), nullable=False),
        *[
            sa.Column(name, sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql"), nullable=False)
            for name in ("site_id", "line_id", "step_id")
        ],
        sa.Column("kpis", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=True),
        sa.Column("origin", sa.String(20).with_variant(sa.String(20, collation="C"), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("origin in ('cli', 'file')", name=op.f("ck_improvement_origin")),
        sa.PrimaryKeyConstraint("improvement_id", name=op.f("pk_improvement")),
    )
    text = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")
    op.create_table(
        "improvement_effect",
        sa.Column(
            "improvement_id", sa.String(80).with_variant(sa.String(80, collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("kpi", text, nullable=False),
        sa.Column("grain", sa.String(20).with_variant(sa.String(20, collation="C"), "postgresql"), nullable=False),
        *[sa.Column(name, text, nullable=False) for name in ("site_id", "line_id", "step_id")],
        *[
            sa.Column(name, sa.Date(), nullable=False)
            for name in ("before_start", "before_end", "after_start", "after_end")
        ],
        sa.Column("before_days", sa.Integer(), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=True) for name in ("before_value", "after_value", "difference")],
        sa.Column("test", text, nullable=False),
        *[
            sa.Column(name, sa.Float(), nullable=True)
            for name in (
                "statistic",
                "p_value",
                "ci_low",
                "ci_high",
                "before_cl",
                "before_lcl",
                "before_ucl",
                "after_cl",
                "after_lcl",
                "after_ucl",
            )
        ],  # fmt: skip
        sa.Column("after_beyond_favourable", sa.Integer(), nullable=False),
        sa.Column("after_beyond_adverse", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(20).with_variant(sa.String(20, collation="C"), "postgresql"), nullable=False),
        *[
            sa.Column(f"{measure}_per_day_{stage}", sa.Float(), nullable=True)
            for measure in ("copq", "external_failure", "prevention", "training")
            for stage in ("before", "after")
        ],
        sa.Column("data_flags", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "verdict in ('improved', 'worsened', 'no clear change', 'too early')",
            name=op.f("ck_improvement_effect_verdict"),
        ),
        sa.PrimaryKeyConstraint("improvement_id", "kpi", name=op.f("pk_improvement_effect")),
    )


def downgrade() -> None:
    # The BI view that reads them goes first (``warehouse.migrate.upgrade`` re-creates the views at head).
    bi_view = "bi.improvement_effects" if op.get_bind().dialect.name == "postgresql" else "bi_improvement_effects"
    op.execute(f"drop view if exists {bi_view}")
    op.drop_table("improvement_effect")
    op.drop_table("improvement")
