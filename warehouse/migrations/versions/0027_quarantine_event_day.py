"""The quarantine records the day each row's event date names (``event_day``): data quality by the data's day.

The revision fills it for the rows already quarantined from their raw records, once; from here on validation
records it.

Revision ID: 0027
Revises: 0026
"""

import json

import pandas as pd
import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# Each fact dataset's event date column at this revision (``core.catalog``'s ``event_date``).
_EVENT_DATE = {
    "production_runs": "production_date",
    "defects": "recorded_at",
    "feedback": "responded_at",
    "training_assignments": "assigned_on",
    "complaints": "received_on",
    "cost_ledger": "booked_on",
    "shipments": "shipped_on",
}


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


def _day(value: object) -> object:
    """As conforming reads an event date: ISO 8601, offsets to UTC; None when it names no day."""
    if value is None:
        return None
    try:
        stamp = pd.to_datetime(str(value), format="ISO8601", utc=True)
    except (ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) else stamp.tz_localize(None).date()


def upgrade() -> None:
    _drop_views()
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.add_column(sa.Column("event_day", sa.Date(), nullable=True))
    quarantine = sa.table(
        "quarantine",
        sa.column("batch_id", sa.String),
        sa.column("source_row", sa.Integer),
        sa.column("dataset", sa.String),
        sa.column("raw_record", sa.Text),
        sa.column("event_day", sa.Date),
    )
    bind = op.get_bind()
    update = (
        sa.update(quarantine)
        .where(quarantine.c.batch_id == sa.bindparam("batch"), quarantine.c.source_row == sa.bindparam("row"))
        .values(event_day=sa.bindparam("day"))
    )
    query = sa.select(quarantine.c.batch_id, quarantine.c.source_row, quarantine.c.dataset, quarantine.c.raw_record)
    rows = bind.execute(query.where(quarantine.c.dataset.in_(list(_EVENT_DATE)))).all()
    for start in range(0, len(rows), 5000):  # a large quarantine: one executemany per slice
        days = []
        for batch_id, source_row, dataset, raw_record in rows[start : start + 5000]:
            day = _day(json.loads(raw_record).get(_EVENT_DATE[dataset]))
            if day is not None:
                days.append({"batch": batch_id, "row": source_row, "day": day})
        if days:
            bind.execute(update, days)


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.drop_column("event_day")
