"""Deletes at the source: which of the warehouse's recent fact rows the source no longer holds.

Incremental extraction only sees rows that changed; a row deleted at the source (a SQL hard delete, an API record
that disappears) never shows up as a change. So each ingest run reconciles keys over a recent window: the keys of
the warehouse's facts whose event date lies in the window, less the keys the source still holds, are deletes.
A row whose event date moved out of the window at the source is confirmed by key, not taken for a delete. The API
also flags deletes (a record with ``deleted: true`` or a ``deleted_at``): those are deletes whatever the window.
File drops are append-only: a survey response once delivered is never taken back by the drop folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import MetaData, Table, select

from core.catalog import Dataset
from core.engine import engine_for

# Fields by which an API marks a record deleted (soft delete) instead of leaving it out.
DELETED_FLAGS = ("deleted", "is_deleted", "deleted_at")
DELETE_REASON = "_delete_reason"


def flagged_deleted(frame: pd.DataFrame) -> pd.Series:
    """Rows an API flags as deleted: ``deleted``/``is_deleted`` true, or a ``deleted_at`` set."""
    flagged = pd.Series(False, index=frame.index)
    for column in DELETED_FLAGS:
        if column not in frame.columns:
            continue
        values = frame[column]
        if column == "deleted_at":
            flagged |= values.notna() & values.astype("string").str.strip().ne("")
        else:
            flagged |= values.map(lambda v: v is True or str(v).strip().lower() in ("true", "1", "yes"))
    return flagged


def sql_keys_still_there(dataset: Dataset, url: str, candidates: Iterable[str], chunk: int = 1000) -> set[str]:
    """Which of ``candidates`` (natural keys) the source table still holds."""
    (key,) = dataset.key
    wanted = sorted(set(candidates))
    found: set[str] = set()
    engine = engine_for(url)
    try:
        table = Table(dataset.name, MetaData(), autoload_with=engine)
        with engine.connect() as connection:
            for start in range(0, len(wanted), chunk):
                query = select(table.c[key]).where(table.c[key].in_(wanted[start : start + chunk]))
                found |= {str(k) for k in connection.scalars(query)}
    finally:
        engine.dispose()
    return found


def sql_keys_since(dataset: Dataset, url: str, since: datetime) -> set[str]:
    """The keys of the source rows whose event date lies on or after ``since`` (one indexed range scan)."""
    (key,) = dataset.key
    engine = engine_for(url)
    try:
        table = Table(dataset.name, MetaData(), autoload_with=engine)
        column = table.c[dataset.event_date or ""]
        bound = since.date() if column.type.python_type is not datetime else since
        with engine.connect() as connection:
            return {str(k) for k in connection.scalars(select(table.c[key]).where(column >= bound))}
    finally:
        engine.dispose()


def tombstones(dataset: Dataset, keys: Iterable[str], reason: str) -> pd.DataFrame:
    """The landed form of deletes: the natural key of each deleted row and why it is taken for deleted."""
    (key,) = dataset.key
    return pd.DataFrame({key: sorted(set(keys)), DELETE_REASON: reason}, dtype="string")
