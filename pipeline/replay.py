"""Re-running history: backfill a source's window, replay landed batches or quarantined rows, dismiss rows."""

from __future__ import annotations

import logging
import time as clock
from datetime import date, datetime, time, timedelta

from core import landing
from core.catalog import BY_NAME, datasets_of
from core.engine import Warehouse, stage_warehouse
from core.progress import OnStep, Step
from core.settings import Settings
from pipeline.ingest import IngestResult, ingest_dataset
from pipeline.load import BatchReport, replay_rows, validate_and_load, write_batch_pages
from warehouse import ledger

log = logging.getLogger(__name__)


def backfill(
    source: str,
    first_day: date,
    last_day: date,
    pipeline_run_id: str,
    settings: Settings,
    on_step: OnStep | None = None,
) -> list[IngestResult]:
    """Re-extract ``source``'s changes from ``first_day`` to ``last_day`` (both included) and land them;
    ``on_step`` hears of each dataset as it lands."""
    lower = datetime.combine(first_day, time(0)) - timedelta(microseconds=1)  # the window is (lower, upper]
    upper = datetime.combine(last_day + timedelta(days=1), time(0)) - timedelta(microseconds=1)
    datasets = datasets_of(source)
    results = []
    with Warehouse(settings.warehouse_url) as warehouse:
        for done, dataset in enumerate(datasets, start=1):
            started = clock.monotonic()
            result = ingest_dataset(
                dataset.name, upper, pipeline_run_id, settings, backfill_from=lower, warehouse=warehouse
            )
            results.append(result)
            if on_step:
                landed = f"{result.rows} row(s) landed" if result.new else "nothing new"
                on_step(Step(done, len(datasets), dataset.name, landed, clock.monotonic() - started))
    return results


def replay(
    batch_ids: list[str], settings: Settings, warehouse: Warehouse | None = None, on_step: OnStep | None = None
) -> list[BatchReport]:
    """Validate and load landed batches again from the landing zone (after a fix), without the source."""
    with stage_warehouse(settings.warehouse_url, warehouse) as warehouse:
        ledger.reopen(warehouse.engine, batch_ids)
        return validate_and_load(settings, warehouse=warehouse, on_step=on_step)


def replay_quarantined(
    pipeline_run_id: str, settings: Settings, dataset: str | None = None, batch_id: str | None = None
) -> list[BatchReport]:
    """Re-validate the open quarantined rows (of one dataset or batch) and load the ones that now pass.

    After a fix of a rule, or of a row (a data steward may correct ``raw_record``), the rows become a new batch
    in the landing zone and the ledger, so its counts add up like any other's; the quarantined originals stay,
    marked ``replayed`` with the batch that took them. Rows that still fail are quarantined again there.
    """
    with Warehouse(settings.warehouse_url) as warehouse:
        with warehouse.engine.connect() as connection:
            status = ledger.batch_status(connection, batch_id) if batch_id else None
        if batch_id and status is None:
            raise ledger.UnknownBatch(f"not in the ledger: {batch_id}")
        if batch_id is not None and status == "failed":
            # Nothing of it reached the quarantine: the whole batch is validated again.
            return replay([batch_id], settings, warehouse)
        rows = ledger.open_quarantine(warehouse.engine, dataset, batch_id)
        return replay_rows(rows, pipeline_run_id, settings, warehouse)


def dismiss(batch_id: str, reason: str, settings: Settings) -> int:
    """Close a batch's open quarantined rows without loading them (``qp quarantine dismiss``); returns how many.

    A failed batch (its validation or load raised) has no rows in the quarantine yet: all of them are quarantined
    then dismissed with ``reason``, so the ledger adds up and its alert resolves; nothing of it is loaded.
    """
    from expectations.verdict import blocked_verdict
    from warehouse.dq_alerts import resolve_blocked_batch
    from warehouse.loads import apply_verdict

    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        with engine.connect() as connection:
            status = ledger.batch_status(connection, batch_id)
        if status == "failed":
            batch = ledger.batch(engine, batch_id)
            raw = landing.read_batch(batch.raw_path, batch.raw_checksum)
            error = ledger.batch_reason(engine, batch_id)
            verdict = blocked_verdict(raw, BY_NAME[batch.dataset], batch_id, f"batch failed: {error}")
            apply_verdict(engine, verdict, batch.rows_extracted)
        dismissed = ledger.dismiss_quarantine(engine, batch_id, reason)
        if status == "failed":
            with engine.begin() as connection:
                resolve_blocked_batch(connection, batch_id, ledger.utcnow())
        write_batch_pages(engine, settings, [batch_id])  # its page shows the rows dismissed, and why
    return dismissed
