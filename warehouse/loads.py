"""Write one validated batch to the warehouse in a single transaction: facts, quarantine, results, ledger.

Either all of a batch's effects are committed or none: a failed load leaves no half batch and the batch
stays ``landed`` for the next try.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select, update

from core.engine import write_transaction
from core.records import BatchVerdict
from warehouse.bulk import merge_frame
from warehouse.dq_alerts import record_verdict
from warehouse.ledger import utcnow
from warehouse.schema import FACT_TABLES, batch_ledger, quarantine, validation_result


@dataclass(frozen=True)
class LoadCounts:
    loaded: int
    quarantined: int
    duplicates: int
    updated: int = 0  # of the loaded rows, corrections of records loaded before


def apply_verdict(engine: Engine, verdict: BatchVerdict, rows_extracted: int) -> LoadCounts:
    now = utcnow()
    table = FACT_TABLES[verdict.dataset.name]
    with write_transaction(engine) as connection:
        merged = merge_frame(
            connection,
            table,
            verdict.valid.assign(batch_id=verdict.batch_id, loaded_at=now),
            verdict.dataset.key,
            verdict.batch_id,
        )
        # Rerunning a batch replaces its own quarantine and results rather than adding to them.
        connection.execute(delete(quarantine).where(quarantine.c.batch_id == verdict.batch_id))
        entries = verdict.quarantined
        known = set() if verdict.blocked_reason else _quarantined_before(connection, verdict)
        entries = [q for q in entries if q["record_hash"] not in known]
        if entries:
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
                    for q in entries
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
            updated=merged.updated,
            quarantined=len(entries),
            duplicates=verdict.duplicate_count + merged.unchanged + len(verdict.quarantined) - len(entries),
        )
        # The ledger's check constraint refuses counts that don't add up, which rolls the whole batch back.
        connection.execute(
            update(batch_ledger)
            .where(batch_ledger.c.batch_id == verdict.batch_id)
            .values(
                rows_extracted=rows_extracted,
                rows_loaded=counts.loaded,
                rows_updated=counts.updated,
                rows_quarantined=counts.quarantined,
                rows_duplicate=counts.duplicates,
                status="blocked" if verdict.blocked_reason else "loaded",
                reason=verdict.blocked_reason,
                processed_at=now,
                claimed_by=None,
                claimed_at=None,
            )
        )
        record_verdict(connection, verdict, now)
    return counts


def _quarantined_before(connection: Connection, verdict: BatchVerdict) -> set[str]:
    """Record hashes of the verdict's bad rows that another batch quarantined already (open or dismissed).

    A backfill or re-extraction re-delivers bad rows unchanged: they are duplicates of the quarantined ones, not
    new entries. Rows replayed since (``qp quarantine replay``) don't count: their replay batch holds them now.
    """
    hashes = sorted({str(q["record_hash"]) for q in verdict.quarantined})
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        found |= set(
            connection.scalars(
                select(quarantine.c.record_hash).where(
                    quarantine.c.dataset == verdict.dataset.name,
                    quarantine.c.record_hash.in_(hashes[start : start + 500]),
                    quarantine.c.batch_id != verdict.batch_id,
                    quarantine.c.status.in_(("open", "dismissed")),
                )
            )
        )
    return found
