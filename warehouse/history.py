"""What the warehouse knows that a batch's context checks need: its keys, its batch history, its values' spread.

Validation (``expectations.context``) states what it reads as a protocol; this serves it from a connection, so
the checks never import the warehouse.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, func, select

from core.catalog import BY_NAME
from warehouse.schema import FACT_TABLES, batch_ledger


class WarehouseHistory:
    """The warehouse's history, read through one open connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def known_keys(self, dimension: str) -> list[str]:
        return known_keys(self.connection, dimension)

    def incremental_batches(self, dataset: str, until: datetime) -> pd.DataFrame:
        query = (
            select(
                batch_ledger.c.batch_id,
                batch_ledger.c.interval_end,
                batch_ledger.c.rows_extracted,
                batch_ledger.c.status,
            )
            .where(
                batch_ledger.c.dataset == dataset,
                batch_ledger.c.batch_kind == "incremental",
                batch_ledger.c.interval_end <= until,
            )
            .order_by(batch_ledger.c.interval_end, batch_ledger.c.landed_at)
        )
        return pd.read_sql(query, self.connection)

    def value_moments(
        self, dataset: str, column: str, time_column: str, since: datetime, until: datetime, other_than: str
    ) -> tuple[int, float | None, float | None]:
        table = FACT_TABLES[dataset]
        value, when = table.c[column], table.c[time_column]
        count, mean, mean_square = self.connection.execute(
            select(func.count(value), func.avg(value * 1.0), func.avg(value * value * 1.0)).where(
                when >= since, when < until, table.c.batch_id != other_than
            )
        ).one()
        return int(count or 0), mean, mean_square


def known_keys(connection: Connection, dimension: str) -> list[str]:
    """Every key of ``dimension`` (a dataset name) that the warehouse holds."""
    (key,) = BY_NAME[dimension].key
    table = FACT_TABLES[dimension]
    return sorted(connection.scalars(select(table.c[key])))
