"""Write one validated batch to the warehouse in a single transaction: facts, quarantine, results, ledger.

Either all of a batch's effects are committed or none: a failed load leaves no half batch and the batch
stays ``landed`` for the next try.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, update

from expectations.verdict import BatchVerdict
from warehouse.bulk import merge_frame
from warehouse.dq_alerts import record_verdict
from warehouse.ledger import utcnow
from warehouse.schema import FACT_TABLES, batch_ledger, quarantine, validation_result


@dataclass(frozen=True)
class LoadCounts:
    loaded: int
    quarantined: int
    duplicates: int


def apply_verdict(engine: Engine, verdict: BatchVerdict, rows_extracted: int) -> LoadCounts:
    now = utcnow()
    table = FACT_TABLES[verdict.dataset.name]
    with engine.begin() as connection:
        merged = merge_frame(
            connection,
            table,
            verdict.valid.assign(batch_id=verdict.batch_id, loaded_at=now),
            verdict.dataset.key,
            verdict.batch_id,
        )
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
            loaded=merged.written,
            quarantined=len(verdict.quarantined),
            duplicates=verdict.duplicate_count + merged.unchanged,
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
                data_docs_page=verdict.data_docs_page,
            )
        )
        record_verdict(connection, verdict, now)
    return counts
