"""Load: validate every landed batch with GX and load it (valid rows to the facts, the rest to quarantine), one
claimed batch at a time; replay the quarantined rows that newly loaded master data resolves."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine, update
from sqlalchemy.exc import InterfaceError, OperationalError

from core import landing, redaction
from core.catalog import BY_NAME
from core.engine import Warehouse, stage_warehouse
from core.progress import OnStep, Step
from core.settings import Settings
from warehouse import ledger
from warehouse.schema import batch_ledger

if TYPE_CHECKING:
    from expectations.runner import BatchValidator


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchReport:
    batch_id: str
    dataset: str
    extracted: int
    loaded: int
    quarantined: int
    duplicates: int
    status: str
    reason: str | None
    deleted: int = 0  # rows removed from the facts because their source deleted them


def replay_rows(
    rows: pd.DataFrame, pipeline_run_id: str, settings: Settings, warehouse: Warehouse | None = None
) -> list[BatchReport]:
    """Land open quarantined ``rows`` as replay batches (one per dataset), mark the originals, validate and load."""
    with stage_warehouse(settings.warehouse_url, warehouse) as warehouse:
        engine = warehouse.engine
        replay_batches = []
        for name, group in rows.groupby("dataset"):
            records = [json.loads(r) for r in group["raw_record"]]
            manifest = landing.land(
                pd.DataFrame.from_records(records),
                source=BY_NAME[str(name)].source,
                dataset=str(name),
                landing_dir=settings.landing_dir,
                interval_end=ledger.utcnow(),
                watermark_from=None,
                watermark_to=None,
                kind="replay",
            )
            if not ledger.record_landed(engine, manifest, pipeline_run_id):
                ledger.reopen(engine, [manifest.batch_id])  # the same rows replayed before: validate them again
            ledger.mark_replayed(engine, group[["batch_id", "source_row"]], manifest.batch_id)
            replay_batches.append(manifest.batch_id)
            log.info("%s: %d quarantined row(s) replayed as %s", name, len(group), manifest.batch_id)
        datasets = {str(name) for name in rows["dataset"].unique()}
        replayed = validate_and_load(settings, datasets=datasets, warehouse=warehouse)
        # The originals' pages now show those rows replayed.
        write_batch_pages(engine, settings, [str(b) for b in rows["batch_id"].unique()])
    return [r for r in replayed if r.batch_id in replay_batches]


def work_waiting(dataset: str, settings: Settings) -> bool:
    """Whether the ledger holds batches of ``dataset`` that no load finished (landed, or left by a crashed load), or
    loaded batches whose KPI days no build took in (a KPI build that crashed).

    An ingest run that found nothing new still signals validation then (which signals the KPI build): stranded
    work waits for no new data.
    """
    with Warehouse(settings.warehouse_url) as warehouse:
        if any(b.dataset == dataset for b in ledger.pending_batches(warehouse.engine)):
            return True
        with warehouse.engine.connect() as connection:
            return ledger.unbuilt_batches(connection, dataset) > 0


def kpis_waiting(settings: Settings) -> bool:
    """Whether loaded batches wait for their KPI days to be built (a KPI build that crashed or never ran)."""
    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.connect() as connection:
        return ledger.unbuilt_batches(connection) > 0


def pending_datasets(settings: Settings) -> tuple[list[str], list[str]]:
    """The datasets with landed batches waiting: (dimensions, facts), each in load order.

    The unit Airflow fans validation out over: one dataset's batches stay in one task, in landing order (the
    duplicate check and the volume history of a batch need its predecessors loaded); datasets run side by side,
    dimensions first so the facts' referential checks see the keys that arrived with them.
    """
    with Warehouse(settings.warehouse_url) as warehouse:
        names = list(dict.fromkeys(b.dataset for b in ledger.pending_batches(warehouse.engine)))
    return [n for n in names if BY_NAME[n].is_dimension], [n for n in names if not BY_NAME[n].is_dimension]


def validate_and_load(
    settings: Settings,
    validator: BatchValidator | None = None,
    datasets: Collection[str] | None = None,
    replay_orphaned: bool = True,
    warehouse: Warehouse | None = None,
    on_step: OnStep | None = None,
) -> list[BatchReport]:
    """Validate every landed batch (of ``datasets``) with GX and load it: valid rows to facts, the rest to quarantine.

    Then, with ``replay_orphaned``, rows quarantined only for a key that a newly loaded dimension now has are
    replayed (:func:`replay_orphans`). ``on_step`` hears of each batch as it is done (its dataset and status).
    """
    from expectations.runner import BatchValidator

    reports = []
    claimer = ledger.new_claimer()
    stale_after = timedelta(seconds=settings.batch_claim_timeout_seconds)
    with stage_warehouse(settings.warehouse_url, warehouse) as warehouse:
        engine = warehouse.engine
        pending = [b for b in ledger.pending_batches(engine) if datasets is None or b.dataset in datasets]
        if pending and validator is None:
            validator = BatchValidator()
        for done, batch in enumerate(pending, start=1):
            started = time.monotonic()
            with ledger.claimed(engine, batch.batch_id, claimer, stale_after) as mine:
                if not mine:
                    log.info("%s %s: another load holds it; left to that load", batch.dataset, batch.batch_id)
                    if on_step:
                        on_step(Step(done, len(pending), batch.dataset, "left to another load"))
                    continue
                log.info("%s %s: claimed by %s", batch.dataset, batch.batch_id, claimer)
                try:
                    report = _validate_and_load_batch(engine, batch, validator, settings)  # type: ignore[arg-type]
                except (OperationalError, InterfaceError):
                    # The warehouse went away (restarted, connection killed): no fault of the batch's. Its
                    # transaction rolled back; it waits for the next run, and this run fails for a retry.
                    _release_claim(engine, batch.batch_id, claimer)
                    raise
                except Exception as error:  # noqa: BLE001 - one batch's fault must not stop the others
                    report = _fail_batch(engine, batch, error)
            reports.append(report)
            if on_step:
                on_step(Step(done, len(pending), batch.dataset, report.status, time.monotonic() - started))
        reports = reports + replay_orphans(reports, settings, warehouse) if replay_orphaned else reports
        write_batch_pages(engine, settings, [r.batch_id for r in reports])
        return reports


def write_batch_pages(engine: Engine, settings: Settings, batch_ids: list[str]) -> None:
    """Each processed batch's validation page in the Data Docs folder, noted in the ledger."""
    from report.validation_pages import write_validation_pages

    if not batch_ids:
        return
    try:
        with engine.connect() as connection:
            pages = write_validation_pages(connection, settings.data_docs_dir, batch_ids)
        ledger.record_validation_pages(engine, {batch: str(path) for batch, path in pages.items()})
    except Exception as error:  # noqa: BLE001 - the batches are loaded; `qp report` writes any page missing
        log.warning("validation pages not written to %s: %s", settings.data_docs_dir, redaction.redact(str(error)))


def _validate_and_load_batch(
    engine: Engine, batch: ledger.PendingBatch, validator: BatchValidator, settings: Settings
) -> BatchReport:
    """Judge one claimed batch with GX and write its verdict: valid rows to facts, the rest to quarantine."""
    from expectations.context import BatchScope, expectation_parameters
    from expectations.verdict import judge_batch
    from warehouse.deletes import apply_deletions
    from warehouse.history import WarehouseHistory
    from warehouse.loads import apply_verdict

    raw = landing.read_batch(batch.raw_path, batch.raw_checksum)
    if batch.batch_kind == "deletion":
        removed = apply_deletions(engine, batch.batch_id, batch.dataset, raw[BY_NAME[batch.dataset].key[0]], len(raw))
        log.info(
            "%s %s: %d row(s) deleted at the source removed from the facts", batch.dataset, batch.batch_id, removed
        )
        duplicates = batch.rows_extracted - removed
        return BatchReport(
            batch.batch_id, batch.dataset, batch.rows_extracted, 0, 0, duplicates, "loaded", None, removed
        )
    scope = BatchScope(batch.batch_id, batch.dataset, batch.batch_kind, batch.interval_end)
    with engine.connect() as connection:  # the warehouse as it is now: dimensions, history
        verdict = judge_batch(
            raw,
            BY_NAME[batch.dataset],
            batch.batch_id,
            validator,
            partial(expectation_parameters, WarehouseHistory(connection), scope),
            settings.event_date_bounds(batch.dataset, batch.interval_end or ledger.utcnow()),
        )
    counts = apply_verdict(engine, verdict, batch.rows_extracted)
    status = "blocked" if verdict.blocked_reason else "loaded"
    report = BatchReport(
        batch.batch_id,
        batch.dataset,
        batch.rows_extracted,
        counts.loaded,
        counts.quarantined,
        counts.duplicates,
        status,
        verdict.blocked_reason,
    )
    (log.warning if verdict.blocked_reason else log.info)(
        "%s %s: extracted %d, loaded %d, quarantined %d, duplicates %d%s",
        batch.dataset,
        status,
        report.extracted,
        report.loaded,
        report.quarantined,
        report.duplicates,
        f" ({verdict.blocked_reason})" if verdict.blocked_reason else "",
    )
    return report


def _release_claim(engine: Engine, batch_id: str, claimer: str) -> None:
    """Put a batch this load claimed back in the queue, if the warehouse answers (else the claim dies stale)."""
    try:
        with engine.begin() as connection:
            connection.execute(
                update(batch_ledger)
                .where(batch_ledger.c.batch_id == batch_id, batch_ledger.c.claimed_by == claimer)
                .values(status="landed", claimed_by=None, claimed_at=None)
            )
    except (OperationalError, InterfaceError):
        log.warning("%s: the warehouse is unreachable; its claim is taken over by the next run", batch_id)


def _fail_batch(engine: Engine, batch: ledger.PendingBatch, error: Exception) -> BatchReport:
    """Record a batch whose validation or load raised as ``failed``, with the error and a data-quality alert."""
    from warehouse.dq_alerts import record_failed_batch

    message = redaction.redact(
        f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    )
    log.error("%s %s failed, the other batches go on: %s", batch.dataset, batch.batch_id, message, exc_info=error)
    with engine.begin() as connection:
        ledger.mark_failed(connection, batch.batch_id, message)
        record_failed_batch(connection, batch.dataset, batch.batch_id, message, ledger.utcnow())
    return BatchReport(batch.batch_id, batch.dataset, batch.rows_extracted, 0, 0, 0, "failed", message)


def replay_orphans(
    reports: Sequence[BatchReport], settings: Settings, warehouse: Warehouse | None = None
) -> list[BatchReport]:
    """Late-arriving master data: replay rows quarantined only for a key that the loaded dimensions now have.

    ``reports`` are the batches just validated: their own rows were judged against these dimensions already.
    """
    loaded = {r.dataset for r in reports if r.status == "loaded"}
    if not loaded:
        return []
    with stage_warehouse(settings.warehouse_url, warehouse) as warehouse:
        orphans = ledger.orphans_of(warehouse.engine, loaded, {r.batch_id for r in reports})
        if orphans.empty:
            return []
        log.info(
            "%d quarantined row(s) referred to keys of %s: replaying them", len(orphans), ", ".join(sorted(loaded))
        )
        return replay_rows(orphans, f"orphans__{ledger.utcnow():%Y%m%dT%H%M%S}", settings, warehouse)
