"""Silence is an event: ``source_freshness``, each dataset's newest delivery against its freshness deadline.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_STATES = "state in ('fresh', 'late', 'never_delivered', 'not_watched')"


def _string(length: int) -> sa.types.TypeEngine:
    # The collation follows revision 0010: strings compare bytewise on PostgreSQL.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "source_freshness",
        sa.Column("dataset", _string(60), nullable=False),
        sa.Column("source", _string(40), nullable=False),
        sa.Column("watched_as", _string(20), nullable=False),
        sa.Column("rhythm", _string(40), nullable=True),
        sa.Column("last_delivery_at", sa.DateTime(), nullable=True),
        sa.Column("last_batch_id", _string(120), nullable=True),
        sa.Column("deadline_basis_at", sa.DateTime(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(), nullable=True),
        sa.Column("state", _string(20), nullable=False),
        sa.Column("is_overdue", sa.Boolean(), nullable=False),
        sa.Column("watched_since", sa.DateTime(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_STATES, name=op.f("ck_source_freshness_state")),
        sa.PrimaryKeyConstraint("dataset", name=op.f("pk_source_freshness")),
    )


def downgrade() -> None:
    # The BI view reads the table; ``warehouse.migrate.upgrade`` re-creates the views after the revisions.
    name = "bi.source_freshness" if op.get_bind().dialect.name == "postgresql" else "bi_source_freshness"
    op.execute(f"drop view if exists {name}")
    op.drop_table("source_freshness")
