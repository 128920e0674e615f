"""Every batch reaches a final state, and deletes at the source reach the warehouse.

- The ledger: a batch is ``processing`` while a load holds its claim (``claimed_by``, ``claimed_at``), and
  ``failed`` (with the error in ``reason``) when validating or loading it raised; ``rows_deleted`` counts the rows
  a deletion batch removed, and the counts must add up with it.
- The quarantine: ``record_hash`` of the raw record, so an unchanged re-delivered bad row counts as a duplicate of
  the quarantined one instead of being quarantined again.
- ``fact_deletion``: the rows removed from the facts because their source deleted them, with their content.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_OLD_STATUSES = "status in ('landed', 'loaded', 'blocked')"
_NEW_STATUSES = "status in ('landed', 'processing', 'loaded', 'blocked', 'failed')"
_OLD_COUNTS = "status = 'landed' or rows_extracted = rows_loaded + rows_quarantined + rows_duplicate"
_NEW_COUNTS = (
    "status in ('landed', 'processing', 'failed') "
    "or rows_extracted = rows_loaded + rows_quarantined + rows_duplicate + rows_deleted"
)


def _string(length: int) -> sa.types.TypeEngine:
    # The collation follows revision 0010: strings compare bytewise on PostgreSQL.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _drop_views() -> None:
    # The BI views read the ledger (SQLite re-creates the table to change its checks, which views would block);
    # ``warehouse.migrate.upgrade`` re-creates them after the revisions.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        names = bind.exec_driver_sql("select table_name from information_schema.views where table_schema = 'bi'")
        for (name,) in names.all():
            op.execute(f'drop view if exists bi."{name}" cascade')
    else:
        for (name,) in bind.exec_driver_sql("select name from sqlite_master where type = 'view'").all():
            op.execute(f'drop view if exists "{name}"')


def upgrade() -> None:
    _drop_views()
    with op.batch_alter_table("batch_ledger") as batch_op:
        batch_op.add_column(sa.Column("rows_deleted", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_by", _string(250), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f("ck_batch_ledger_status"), type_="check")
        batch_op.drop_constraint(op.f("ck_batch_ledger_counts_add_up"), type_="check")
        batch_op.create_check_constraint(op.f("ck_batch_ledger_status"), _NEW_STATUSES)
        batch_op.create_check_constraint(op.f("ck_batch_ledger_counts_add_up"), _NEW_COUNTS)
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.add_column(sa.Column("record_hash", _string(64), nullable=True))
    op.create_index("ix_quarantine_dataset_record_hash", "quarantine", ["dataset", "record_hash"])
    op.create_table(
        "fact_deletion",
        sa.Column("dataset", _string(60), nullable=False),
        sa.Column("record_key", _string(400), nullable=False),
        sa.Column("batch_id", _string(120), nullable=False),
        sa.Column("record", _TEXT, nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "record_key", "batch_id", name=op.f("pk_fact_deletion")),
    )
    op.create_index("ix_fact_deletion_batch_id", "fact_deletion", ["batch_id"])


def downgrade() -> None:
    _drop_views()
    op.drop_index("ix_fact_deletion_batch_id", table_name="fact_deletion")
    op.drop_table("fact_deletion")
    op.drop_index("ix_quarantine_dataset_record_hash", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.drop_column("record_hash")
    op.execute("update batch_ledger set status = 'landed' where status in ('processing', 'failed')")
    with op.batch_alter_table("batch_ledger") as batch_op:
        batch_op.drop_constraint(op.f("ck_batch_ledger_counts_add_up"), type_="check")
        batch_op.drop_constraint(op.f("ck_batch_ledger_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_batch_ledger_status"), _OLD_STATUSES)
        batch_op.create_check_constraint(op.f("ck_batch_ledger_counts_add_up"), _OLD_COUNTS)
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("rows_deleted")
