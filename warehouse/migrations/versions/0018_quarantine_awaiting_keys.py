"""The quarantine says as data which rows wait only for master data: ``awaiting_keys``, JSON {column: dimension}.

Until now the replay of such rows found them by reading their failure texts back. The revision fills the new
column for the rows already quarantined, from those texts, once; from here on validation records it.

Revision ID: 0018
Revises: 0017
"""

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
# The reason the referential checks gave before this revision (``expectations.rules.known``).
_LEGACY_REFERENCE = re.compile(r"^rule: (\S+) is a known (\S+)$")


def _drop_views() -> None:
    # The BI views read the quarantine; ``warehouse.migrate.upgrade`` re-creates them after the revisions.
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
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.add_column(sa.Column("awaiting_keys", _TEXT, nullable=True))
    quarantine = sa.table(
        "quarantine",
        sa.column("batch_id", sa.String),
        sa.column("source_row", sa.Integer),
        sa.column("failed_rules", sa.Text),
        sa.column("awaiting_keys", sa.Text),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(quarantine.c.batch_id, quarantine.c.source_row, quarantine.c.failed_rules)).all()
    for batch_id, source_row, failed_rules in rows:
        matches = [_LEGACY_REFERENCE.match(reason) for reason in json.loads(failed_rules)]
        if matches and all(m is not None for m in matches):
            awaiting = {m.group(1): m.group(2) for m in matches if m is not None}
            bind.execute(
                sa.update(quarantine)
                .where(quarantine.c.batch_id == batch_id, quarantine.c.source_row == source_row)
                .values(awaiting_keys=json.dumps(awaiting, sort_keys=True))
            )


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.drop_column("awaiting_keys")
