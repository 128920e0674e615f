"""Write one validated batch to the warehouse in a single transaction: facts, quarantine, results, ledger.

Either all of a batch's effects are committed or none: a failed load leaves no half batch and the batch
stays ``landed`` for the next try.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from expectations.verdict import BatchVerdict
from warehouse.ledger import utcnow
from warehouse.schema import FACT_TABLES, batch_ledger, quarantine, validation_result

_KEY_CHUNK = 500


@dataclass(frozen=True)
class LoadCounts:
    loaded: int
    quarantined: int
    duplicates: int


def apply_verdict(engine: Engine, verdict: BatchVerdict, rows_extracted: int) -> LoadCounts:
    now = utcnow()
    table = FACT_TABLES[verdict.dataset.name]
    with engine.begin() as connection:
        fresh, unchanged = _split_unchanged(connection, table, verdict)
        if not fresh.empty:
            _upsert(connection, table, fresh.assign(batch_id=verdict.batch_id, loaded_at=now), verdict.dataset.key)
        # Rerunning a batch replaces its own quarantine and results rather than adding to them.
        connection.execute(delete(quarantine).where(quarantine.c.batch_id == verdict.batch_id))
        if verdict.quarantined:
            connection.execute(
                quarantine.insert(),
                [
                    {
                        "batch_id": verdict.batch_id,
                        "dataset": verdict.dataset.name,
                        "quarantined_at": now,
                        "status": "open",
                        **q,
                    }
                    for q in verdict.quarantined
                ],
            )
        connection.execute(delete(validation_result).where(validation_result.c.batch_id == verdict.batch_id))
        if verdict.results:
            connection.execute(
                validation_result.insert(),
                [
                    {"batch_id": verdict.batch_id, "dataset": verdict.dataset.name, "validated_at": now, **r.__dict__}
                    for r in verdict.results
                ],
            )
        counts = LoadCounts(
            loaded=len(verdict.valid) - unchanged,
            quarantined=len(verdict.quarantined),
            duplicates=verdict.duplicate_count + unchanged,
        )
        # The ledger's check constraint refuses counts that don't add up, which rolls the whole batch back.
        connection.execute(
            update(batch_ledger)
            .where(batch_ledger.c.batch_id == verdict.batch_id)
            .values(
                rows_extracted=rows_extracted,
                rows_loaded=counts.loaded,
                rows_quarantined=counts.quarantined,
                rows_duplicate=counts.duplicates,
                status="blocked" if verdict.blocked_reason else "loaded",
                reason=verdict.blocked_reason,
                processed_at=now,
            )
        )
    return counts


def _split_unchanged(connection: Connection, table: Table, verdict: BatchVerdict) -> tuple[pd.DataFrame, int]:
    """Rows to write, and how many are already in the warehouse unchanged from another batch (duplicates)."""
    valid = verdict.valid
    if valid.empty:
        return valid, 0
    key = list(verdict.dataset.key)
    key_columns = [table.c[k] for k in key]
    existing: list[tuple[object, ...]] = []
    keys = list(valid[key].itertuples(index=False, name=None))
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        query = select(*key_columns, table.c.row_hash, table.c.batch_id).where(tuple_(*key_columns).in_(chunk))
        existing.extend(tuple(row) for row in connection.execute(query))
    if not existing:
        return valid, 0
    current = pd.DataFrame(existing, columns=[*key, "existing_hash", "existing_batch"])
    merged = valid.merge(current, on=key, how="left")
    same = merged["existing_hash"].eq(merged["row_hash"]).fillna(False).to_numpy()
    # A row this very batch loaded before is still "loaded" by it: reprocessing a batch is idempotent.
    from_other_batch = merged["existing_batch"].ne(verdict.batch_id).fillna(True).to_numpy()
    unchanged = same & from_other_batch
    return valid[~same], int(unchanged.sum())


def _upsert(connection: Connection, table: Table, frame: pd.DataFrame, key: tuple[str, ...]) -> None:
    records = _records(frame[[c.name for c in table.columns]])
    dialect = connection.dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_fn(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
    connection.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updates), records)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Plain Python values for the DB driver: None for missing, dates for date columns."""
    out = frame.astype(object).where(frame.notna(), None)
    return out.to_dict("records")
