"""Apply deletes at the source to the facts: the rows leave the fact table, their content stays in fact_deletion.

A deletion batch (``batch_kind = 'deletion'``) lists the natural keys its source no longer holds. Loading it removes
those rows from the facts (so no KPI counts them), keeps each as it was in ``fact_deletion`` (the audit trail, and
the days whose KPIs the KPI build then recomputes), and counts them in the ledger as ``rows_deleted``; a key the
warehouse no longer holds (deleted before) counts as a duplicate. One transaction, like any batch.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from core.catalog import BY_NAME
from warehouse.dq_alerts import resolve_failed_batch
from warehouse.ledger import utcnow
from warehouse.schema import FACT_TABLES, batch_ledger, fact_deletion


def recent_keys(connection: Connection, dataset: str, since: datetime) -> set[str]:
    """Keys of the dataset's facts whose event date lies on or after ``since``: the window reconciled for deletes."""
    spec = BY_NAME[dataset]
    table = FACT_TABLES[dataset]
    (key,) = spec.key
    column = table.c[spec.event_date or ""]
    bound = since.date() if column.type.python_type is not datetime else since
    return {str(k) for k in connection.scalars(select(table.c[key]).where(column >= bound))}


def apply_deletions(engine: Engine, batch_id: str, dataset: str, keys: pd.Series, rows_extracted: int) -> int:
    """Remove the facts with ``keys``, keep them in ``fact_deletion``, close the batch; returns the rows removed."""
    spec = BY_NAME[dataset]
    table = FACT_TABLES[dataset]
    (key,) = spec.key
    wanted = sorted({str(k) for k in keys.dropna()})
    now = utcnow()
    with engine.begin() as connection:
        # Rerunning the batch (``qp replay``) finds its rows gone already: their record is kept from the first run.
        earlier = select(fact_deletion.c.record_key).where(fact_deletion.c.batch_id == batch_id)
        kept = len(connection.execute(earlier).all())
        removed = 0
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            rows = pd.read_sql(select(table).where(table.c[key].in_(chunk)), connection)
            if rows.empty:
                continue
            records = rows.astype(object).where(rows.notna(), None).to_dict("records")
            connection.execute(
                insert(fact_deletion),
                [
                    {
                        "dataset": dataset,
                        "record_key": json.dumps([str(r[key])]),
                        "batch_id": batch_id,
                        "record": json.dumps(r, default=str),
                        "deleted_at": now,
                    }
                    for r in records
                ],
            )
            removed += connection.execute(delete(table).where(table.c[key].in_(chunk))).rowcount
        removed += kept
        connection.execute(
            update(batch_ledger)
            .where(batch_ledger.c.batch_id == batch_id)
            .values(
                rows_extracted=rows_extracted,
                rows_loaded=0,
                rows_quarantined=0,
                rows_deleted=removed,
                rows_duplicate=rows_extracted - removed,
                status="loaded",
                reason=None,
                processed_at=now,
                claimed_by=None,
                claimed_at=None,
            )
        )
        resolve_failed_batch(connection, batch_id, now)
    return removed


def deleted_days(connection: Connection, batch_ids: list[str], columns: dict[str, str]) -> dict[str, set[date]]:
    """The days (in each dataset's ``columns`` entry) of the rows that deletion batches ``batch_ids`` removed."""
    if not batch_ids:
        return {}
    rows = connection.execute(
        select(fact_deletion.c.dataset, fact_deletion.c.record).where(fact_deletion.c.batch_id.in_(batch_ids))
    ).all()
    days: dict[str, set[date]] = {}
    for dataset, record in rows:
        values = json.loads(record)
        column = columns.get(dataset)
        stamp = pd.to_datetime(values.get(column), errors="coerce") if column else pd.NaT
        if not pd.isna(stamp):
            days.setdefault(dataset, set()).add(stamp.date())
    return days
