"""The ledger counts, of each batch's loaded rows, those that corrected an earlier version of their record.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batch_ledger", sa.Column("rows_updated", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("batch_ledger", "rows_updated")
