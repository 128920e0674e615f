"""Bulk-load a DataFrame into a table by natural key: stage in bulk, then merge in SQL.

The frame is staged in a temporary table on the batch's own connection, so it stays inside the batch's
transaction, the fastest way the database has (``core.dialect``: binary COPY on PostgreSQL, batched
``executemany`` on SQLite). Both then merge with the same SQL: ``INSERT ... SELECT ... ON CONFLICT (key) DO
UPDATE`` where the content hash differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    Table,
    and_,
    func,
    select,
    text,
)

from core.dialect import dialect_of


@dataclass(frozen=True)
class MergeCounts:
    written: int  # rows inserted or updated
    unchanged: int  # rows already present with the same content from another batch
    updated: int = 0  # of the written rows, those whose key was present with other content


def merge_frame(
    connection: Connection, target: Table, frame: pd.DataFrame, key: tuple[str, ...], batch_id: str
) -> MergeCounts:
    """Insert new rows, update changed ones, leave identical ones; returns what happened, all in SQL."""
    if frame.empty:
        return MergeCounts(0, 0)
    # The stage lives in the caller's transaction: on failure the rollback removes it, so there is no cleanup
    # in ``finally`` (on a killed connection it would only hide the real error).
    stage = _stage(connection, target, frame)
    joined = stage.join(target, and_(*[stage.c[k] == target.c[k] for k in key]))
    existing, unchanged, updated = connection.execute(
        select(
            func.count(),
            func.count().filter(and_(target.c.row_hash == stage.c.row_hash, target.c.batch_id != batch_id)),
            func.count().filter(target.c.row_hash != stage.c.row_hash),
        ).select_from(joined)
    ).one()
    columns = [c.name for c in target.columns]
    # ``where true`` keeps SQLite's parser from reading ON CONFLICT as part of the SELECT's join.
    rows = select(*[stage.c[c] for c in columns]).where(text("true"))
    statement = dialect_of(connection).insert(target).from_select(columns, rows)
    if existing:
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c: statement.excluded[c] for c in columns if c not in key},
            where=target.c.row_hash != statement.excluded.row_hash,
        )
    # With no key of the batch in the target, a plain INSERT ... SELECT does the same merge without the
    # per-row conflict check (measured here: 1.9 s against 3.6 s per million rows into the indexed table).
    connection.execute(statement)
    stage.drop(connection)
    written = len(frame) - int(unchanged)
    if written:
        dialect_of(connection).refresh_statistics(connection, target, written)
    return MergeCounts(written=written, unchanged=int(unchanged), updated=int(updated))


def insert_frame(connection: Connection, target: Table, frame: pd.DataFrame) -> int:
    """Append rows the caller knows are new (it deleted their partition in this transaction), in bulk."""
    if frame.empty:
        return 0
    columns = [c.name for c in target.columns if c.name in frame.columns]
    if dialect_of(connection).append_rows(connection, target, frame[columns]):
        return len(frame)
    stage = _stage(connection, target, frame, columns)  # in the caller's transaction, like merge_frame's
    connection.execute(target.insert().from_select(columns, select(*[stage.c[c] for c in columns])))
    stage.drop(connection)
    return len(frame)


def _stage(connection: Connection, target: Table, frame: pd.DataFrame, columns: list[str] | None = None) -> Table:
    """A temporary table holding ``frame``'s ``columns`` (default: all of ``target``'s), typed as the target's."""
    names = columns or [c.name for c in target.columns]
    stage = Table(
        f"stage_{target.name}", MetaData(), *[Column(n, target.c[n].type) for n in names], prefixes=["TEMPORARY"]
    )
    dialect_of(connection).stage_rows(connection, stage, target, frame[names])
    return stage
