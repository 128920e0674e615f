"""Quarantined rows remember the batch that replayed them.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.add_column(
            sa.Column("replayed_in", sa.String(120).with_variant(sa.String(120, collation="C"), "postgresql"))
        )


def downgrade() -> None:
    # The BI view over the quarantine selects every column; ``warehouse.migrate.upgrade`` re-creates it.
    view = "bi.quarantined_rows" if op.get_bind().dialect.name == "postgresql" else "bi_quarantined_rows"
    op.execute(f"drop view if exists {view}")
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.drop_column("replayed_in")
