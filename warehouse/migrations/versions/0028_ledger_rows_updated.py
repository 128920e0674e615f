"""The ledger counts, of each batch's loaded rows, those that corrected an earlier version of their record.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batch_ledger", sa.Column("rows_updated", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # The BI view batch_ledger reads the column: the views go first (``warehouse.migrate.upgrade`` re-creates them).
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        names = bind.exec_driver_sql("select table_name from information_schema.views where table_schema = 'bi'")
        for (name,) in names.all():
            op.execute(f'drop view if exists bi."{name}" cascade')
    else:
        for (name,) in bind.exec_driver_sql("select name from sqlite_master where type = 'view'").all():
            op.execute(f'drop view if exists "{name}"')
    op.drop_column("batch_ledger", "rows_updated")
