"""String columns compare bytewise ("C" collation) on PostgreSQL: faster keys, same order as C.UTF-8.

Revision ID: 0010
Revises: 0009
"""

from collections import defaultdict

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_STRING_COLUMNS = """
select c.table_name, c.column_name, c.data_type, c.character_maximum_length
from information_schema.columns c
join information_schema.tables t using (table_schema, table_name)
where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
  and c.table_name <> 'alembic_version'
  and c.data_type in ('character varying', 'text')
  and c.collation_name {current}
"""


def _set_collation(current: str, collation: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite compares bytewise already
    # The BI views depend on these columns; ``warehouse.migrate.upgrade`` re-creates them after the revisions.
    for (view,) in bind.execute(text("select viewname from pg_views where schemaname = 'bi'")):
        op.execute(f'drop view if exists bi."{view}" cascade')
    columns = defaultdict(list)
    for table, column, data_type, length in bind.execute(text(_STRING_COLUMNS.format(current=current))):
        sql_type = "text" if data_type == "text" else f"varchar({length})" if length else "varchar"
        columns[table].append(f'alter column "{column}" type {sql_type} collate "{collation}"')
    for table, changes in columns.items():
        op.execute(f'alter table "{table}" ' + ", ".join(changes))  # one rewrite per table


def upgrade() -> None:
    _set_collation("is null", "C")


def downgrade() -> None:
    _set_collation("= 'C'", "default")
