"""Process capability per product, process step and month (Cp, Cpk, Cpm, Pp, Ppk) against specification limits.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def _key(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "process_capability",
        sa.Column("product_id", _key(40), nullable=False),
        sa.Column("step_id", _key(40), nullable=False),
        sa.Column("characteristic", _key(40), nullable=False),
        sa.Column("month_start", sa.Date(), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=True) for name in ("lsl", "usl", "target")],
        sa.Column("runs", sa.Integer(), nullable=False),
        *[
            sa.Column(name, sa.Float(), nullable=True)
            for name in (
                "mean",
                "sigma_within",
                "sigma_overall",
                "cp",
                "cpl",
                "cpu",
                "cpk",
                "cpm",
                "pp",
                "ppl",
                "ppu",
                "ppk",
            )
        ],  # fmt: skip
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "product_id", "step_id", "characteristic", "month_start", name=op.f("pk_process_capability")
        ),
    )


def downgrade() -> None:
    bi = "bi." if op.get_bind().dialect.name == "postgresql" else "bi_"
    op.execute(f"drop view if exists {bi}process_capability")
    op.drop_table("process_capability")
