"""The pipeline's stages as plain functions: what each Airflow task calls, and what tests and the CLI call.

ingest_source -> validate_and_load -> build_kpis -> check_regressions. Each stage takes the work it finds
(new data since a watermark, landed batches in the ledger), so a lost trigger only delays data, and a
rerun finds nothing new and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from qualitypulse import redaction
from qualitypulse.settings import Settings
from sources import deletes, landing
from sources.catalog import BY_NAME, Dataset, datasets_of
from sources.extract import Extraction, SourceEvent, SourceUnavailable, change_keys_of, extract_sql
from sources.file_drops import extract_file_drops
from sources.http_api import HttpSource, extract_http
from warehouse import freshness, ledger
from warehouse.db import engine_for, write_transaction
from warehouse.schema import batch_ledger, kpi_daily

if TYPE_CHECKING:
    from alerts.evaluate import Episode
    from alerts.lifecycle import Changes
    from alerts.outbox import Delivery
    from expectations.runner import BatchValidator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    dataset: str
    batch_id: str | None
    rows: int
    new: bool  # False when nothing new was found, or the same batch had landed before


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


def ingest_source(source: str, interval_end: datetime, pipeline_run_id: str, settings: Settings) -> list[IngestResult]:
    """Extract what is new in each dataset of ``source`` up to ``interval_end`` and land it as raw batches."""
    return [ingest_dataset(d.name, interval_end, pipeline_run_id, settings) for d in datasets_of(source)]


def ingest_dataset(
    name: str, interval_end: datetime, pipeline_run_id: str, settings: Settings, backfill_from: datetime | None = None
) -> IngestResult:
    """Extract what is new in one dataset since its watermark, up to ``interval_end``; land it; enter it.

    With ``backfill_from`` it re-extracts the changes in (backfill_from, interval_end] instead, whatever the
    watermark, and leaves the watermark alone: rows the warehouse holds already load as unchanged duplicates,
    and a second backfill of the same window lands the same batch, which the ledger knows.
    """
    dataset = BY_NAME[name]
    engine = engine_for(settings.warehouse_url)
    try:
        window = f"after {backfill_from}" if backfill_from else "after the watermark"
        log.info("%s: extracting changes %s, up to %s", dataset.name, window, interval_end)
        try:
            extraction = _extract(dataset, engine, interval_end, settings, backfill_from)
        except SourceUnavailable as error:
            down = SourceEvent("source_unavailable", dataset.source, str(error))
            ledger.record_events(engine, dataset.name, [down], pipeline_run_id)
            log.error("%s: %s; the watermark stays, so the next run asks for the same changes", dataset.name, error)
            raise
        events = list(extraction.events)
        flagged: set[str] = set()
        if dataset.event_date and not extraction.frame.empty and extraction.chunks is None:
            deleted = deletes.flagged_deleted(extraction.frame)
            if deleted.any():  # an API's soft deletes: a deletion, not a row to load
                flagged = {str(k) for k in extraction.frame.loc[deleted, dataset.key[0]]}
                extraction.frame = extraction.frame[~deleted].reset_index(drop=True)
        writer = landing.BatchWriter(
            settings.landing_dir, dataset.source, dataset.name, interval_end, extraction.schema
        )
        try:
            for chunk in extraction.chunks or [extraction.frame]:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        if writer.rows == 0 and (extraction.chunks is not None or extraction.is_empty):
            writer.abort()
            if not backfill_from:
                _reconcile_deletes(dataset, engine, interval_end, pipeline_run_id, settings, flagged)
            ledger.record_events(engine, dataset.name, events, pipeline_run_id)
            log.info("%s: nothing new up to %s", dataset.name, interval_end)
            return IngestResult(dataset.name, None, 0, new=False)
        events += _new_columns(engine, dataset, extraction.frame)  # drift is news only with a batch that has it
        manifest = writer.finish(
            watermark_from=backfill_from or ledger.get_watermark(engine, dataset.name),
            watermark_to=None if backfill_from else extraction.watermark_to,
            files=extraction.files,
            kind="backfill" if backfill_from else "incremental",
        )
        new = ledger.record_landed(engine, manifest, pipeline_run_id)
        if new:
            ledger.record_events(engine, dataset.name, events, pipeline_run_id, manifest.batch_id)
        if not backfill_from:
            _reconcile_deletes(dataset, engine, interval_end, pipeline_run_id, settings, flagged)
    finally:
        freshness.check(engine, interval_end, settings.freshness, settings.freshness_grace_hours, [dataset.source])
        engine.dispose()
    log.info(
        "%s: landed %d rows as %s%s",
        dataset.name,
        manifest.row_count,
        manifest.batch_id,
        "" if new else " (already in the ledger)",
    )
    return IngestResult(dataset.name, manifest.batch_id, manifest.row_count, new=new)


def ingest_run_interval(
    name: str,
    interval_start: datetime | None,
    interval_end: datetime,
    run_type: str,
    pipeline_run_id: str,
    settings: Settings,
) -> IngestResult:
    """Ingest one dataset for an Airflow run: what a run of this type over [interval_start, interval_end) owes.

    A backfill run re-extracts the changes of its own data interval (:func:`ingest_dataset` with
    ``backfill_from``; the watermark is left alone), so ``airflow backfill create`` reproduces history and a
    second backfill of the same days lands the same batches, which the ledger knows. Every other run (nightly,
    event, manual) takes what is new since the watermark up to the interval's end. File drops can't be re-read
    from the source: a backfill run of the survey takes new drops like any run.
    """
    if run_type == "backfill" and interval_start is not None and BY_NAME[name].source != "survey":
        just_before = timedelta(microseconds=1)  # ingest_dataset's window is (from, to]; the interval is [start, end)
        return ingest_dataset(
            name, interval_end - just_before, pipeline_run_id, settings, backfill_from=interval_start - just_before
        )
    return ingest_dataset(name, interval_end, pipeline_run_id, settings)


def _reconcile_deletes(
    dataset: Dataset,
    engine: Engine,
    interval_end: datetime,
    pipeline_run_id: str,
    settings: Settings,
    flagged: set[str],
) -> None:
    """:func:`_land_deletes`, whose failure (a source down during the reconciliation) never fails the ingest."""
    try:
        _land_deletes(dataset, engine, interval_end, pipeline_run_id, settings, flagged)
    except Exception as error:  # noqa: BLE001 - the rows are landed; deletes are found again next run
        detail = redaction.redact(
            f"delete reconciliation failed, tried again next run: {type(error).__name__}: {error}"
        )
        log.warning("%s: %s", dataset.name, detail)
        ledger.record_events(
            engine, dataset.name, [SourceEvent("reconcile_failed", dataset.name, detail[:500])], pipeline_run_id
        )
        if flagged:  # the API's own delete flags need no reconciliation, and the watermark moved past them
            _land_deletes(dataset, engine, interval_end, pipeline_run_id, settings, flagged, reconcile=False)


def _land_deletes(
    dataset: Dataset,
    engine: Engine,
    interval_end: datetime,
    pipeline_run_id: str,
    settings: Settings,
    flagged: set[str],
    reconcile: bool = True,
) -> str | None:
    """Find the dataset's recent facts that its source deleted and land them as a deletion batch (its id).

    SQL sources and the API are reconciled by key over the last ``QP_DELETE_RECONCILIATION_DAYS`` of event dates;
    records the API flags deleted are deletes whatever their date. File drops are append-only.
    """
    from warehouse.deletes import recent_keys

    days = settings.delete_reconciliation_days if reconcile else 0
    if not dataset.event_date or dataset.source == "survey" or len(dataset.key) != 1:
        return None
    since = interval_end - timedelta(days=days)
    reconciled: set[str] = set()
    if days > 0:
        with engine.connect() as connection:
            held = recent_keys(connection, dataset.name, since)
        if held:
            reconciled = held - _source_keys(dataset, since, interval_end, settings)
            if reconciled and dataset.source in ("qms", "finance"):  # moved out of the window, not deleted
                reconciled -= deletes.sql_keys_still_there(dataset, _sql_url(dataset, settings), reconciled)
    gone = reconciled | flagged
    if not gone:
        return None
    window = f"{since:%Y-%m-%d} to {interval_end:%Y-%m-%d}"
    reason = f"deleted at the source (keys reconciled over {window}, or flagged deleted)"
    manifest = landing.land(
        deletes.tombstones(dataset, gone, reason),
        source=dataset.source,
        dataset=dataset.name,
        landing_dir=settings.landing_dir,
        interval_end=interval_end,
        watermark_from=None,
        watermark_to=None,
        kind="deletion",
    )
    if ledger.record_landed(engine, manifest, pipeline_run_id):
        detail = (
            f"{len(gone)} row(s) no longer in the source ({len(flagged)} flagged deleted); batch {manifest.batch_id}"
        )
        ledger.record_events(
            engine,
            dataset.name,
            [SourceEvent("source_deleted", dataset.name, detail)],
            pipeline_run_id,
            manifest.batch_id,
        )
        log.warning("%s: %s", dataset.name, detail)
    return manifest.batch_id


def _source_keys(dataset: Dataset, since: datetime, interval_end: datetime, settings: Settings) -> set[str]:
    """The keys the source holds now: SQL rows with an event date in the window, or every record of the API."""
    if dataset.source in ("qms", "finance"):
        return deletes.sql_keys_since(dataset, _sql_url(dataset, settings), since)
    listing = extract_http(dataset, lms_api(settings), None, datetime(9999, 12, 31)).frame
    if listing.empty:
        return set()
    alive = listing[~deletes.flagged_deleted(listing)]
    return {str(k) for k in alive[dataset.key[0]].dropna()}


def _sql_url(dataset: Dataset, settings: Settings) -> str:
    return settings.qms_url if dataset.source == "qms" else settings.finance_url


def _taken_since(engine: Engine, dataset: Dataset, since: datetime) -> set[tuple[object, ...]]:
    """(key, change time) of every row that landed batches took with a change time after ``since``."""
    changed = dataset.watermark_column or "updated_at"
    taken: set[tuple[object, ...]] = set()
    for raw_path in ledger.batches_changed_since(engine, dataset.name, since):
        # Only the rows changed after ``since`` can meet the look-back window: the initial batch of a big table
        # must not be read whole on every run.
        taken |= change_keys_of(landing.read_columns(raw_path, [*dataset.key, changed], (changed, since)), dataset)
    return taken


def _new_columns(engine: Engine, dataset: Dataset, frame: pd.DataFrame) -> list[SourceEvent]:
    """Schema drift: columns the catalog doesn't know that the dataset's previous batch didn't have either.

    The first batch sets the baseline (sources often carry columns the warehouse has no use for, such as a
    surrogate id); from then on a column that appears is reported once, in the batch that brought it.
    """
    previous = ledger.latest_raw_path(engine, dataset.name)
    if previous is None:
        return []
    known = {*dataset.columns, *landing.column_names(previous)}
    unknown = [c for c in frame.columns if c not in known and not str(c).startswith("_")]
    for column in unknown:
        log.warning("%s: new column %r in the source: kept in the raw batch, not loaded", dataset.name, column)
    return [SourceEvent("schema_drift", str(c), "new column: kept in the raw batch, not loaded") for c in unknown]


def _extract(
    dataset: Dataset, engine: Engine, interval_end: datetime, settings: Settings, backfill_from: datetime | None
) -> Extraction:
    if dataset.source == "survey":
        if backfill_from:
            raise ValueError("file drops are not re-extracted: replay their landed batches (`qp replay`)")
        return extract_file_drops(dataset, settings.survey_drop_dir, ledger.taken_files(engine, dataset.name))
    watermark = backfill_from or ledger.get_watermark(engine, dataset.name)
    if dataset.source in ("qms", "finance"):
        url = settings.qms_url if dataset.source == "qms" else settings.finance_url
        if backfill_from:
            return extract_sql(dataset, url, backfill_from, interval_end, chunk_rows=settings.sql_chunk_rows)
        lookback = timedelta(minutes=settings.sql_lookback_minutes)
        taken = _taken_since(engine, dataset, watermark - lookback) if watermark else set()
        return extract_sql(dataset, url, watermark, interval_end, lookback, taken, settings.sql_chunk_rows)
    if dataset.source == "lms":
        return extract_http(dataset, lms_api(settings), watermark, interval_end)
    raise ValueError(f"unknown source {dataset.source!r}")


def lms_api(settings: Settings) -> HttpSource:
    """The LMS/HR reporting API as configured; a clear error when it isn't."""
    if not settings.lms_api_url:
        raise ValueError("QP_LMS_API_URL is not set: point it at the LMS/HR reporting API (and QP_LMS_API_TOKEN)")
    return HttpSource(
        settings.lms_api_url,
        settings.lms_api_token,
        read_timeout=settings.lms_api_timeout_seconds,
        retries=settings.lms_api_retries,
        page_size=settings.lms_api_page_size,
        retry_after_max_seconds=settings.lms_api_retry_after_max_seconds,
        deadline_seconds=settings.lms_api_deadline_seconds,
    )


def backfill(
    source: str, first_day: date, last_day: date, pipeline_run_id: str, settings: Settings
) -> list[IngestResult]:
    """Re-extract ``source``'s changes from ``first_day`` to ``last_day`` (both included) and land them."""
    lower = datetime.combine(first_day, time(0)) - timedelta(microseconds=1)  # the window is (lower, upper]
    upper = datetime.combine(last_day + timedelta(days=1), time(0)) - timedelta(microseconds=1)
    return [ingest_dataset(d.name, upper, pipeline_run_id, settings, backfill_from=lower) for d in datasets_of(source)]


def replay(batch_ids: list[str], settings: Settings) -> list[BatchReport]:
    """Validate and load landed batches again from the landing zone (after a fix), without the source."""
    engine = engine_for(settings.warehouse_url)
    try:
        ledger.reopen(engine, batch_ids)
    finally:
        engine.dispose()
    return validate_and_load(settings)


def replay_quarantined(
    pipeline_run_id: str, settings: Settings, dataset: str | None = None, batch_id: str | None = None
) -> list[BatchReport]:
    """Re-validate the open quarantined rows (of one dataset or batch) and load the ones that now pass.

    After a fix of a rule, or of a row (a data steward may correct ``raw_record``), the rows become a new batch
    in the landing zone and the ledger, so its counts add up like any other's; the quarantined originals stay,
    marked ``replayed`` with the batch that took them. Rows that still fail are quarantined again there.
    """
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            status = ledger.batch_status(connection, batch_id) if batch_id else None
        if batch_id and status is None:
            raise ledger.UnknownBatch(f"not in the ledger: {batch_id}")
        if (
            batch_id is not None and status == "failed"
        ):  # nothing of it reached the quarantine: the whole batch is validated again
            return replay([batch_id], settings)
        rows = ledger.open_quarantine(engine, dataset, batch_id)
    finally:
        engine.dispose()
    return _replay_rows(rows, pipeline_run_id, settings)


def dismiss(batch_id: str, reason: str, settings: Settings) -> int:
    """Close a batch's open quarantined rows without loading them (``qp quarantine dismiss``); returns how many.

    A failed batch (its validation or load raised) has no rows in the quarantine yet: all of them are quarantined
    then dismissed with ``reason``, so the ledger adds up and its alert resolves; nothing of it is loaded.
    """
    from expectations.verdict import blocked_verdict
    from warehouse.dq_alerts import resolve_blocked_batch
    from warehouse.loads import apply_verdict

    engine = engine_for(settings.warehouse_url)
    try:
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
    finally:
        engine.dispose()
    return dismissed


def _replay_rows(rows: pd.DataFrame, pipeline_run_id: str, settings: Settings) -> list[BatchReport]:
    """Land open quarantined ``rows`` as replay batches (one per dataset), mark the originals, validate and load."""
    engine = engine_for(settings.warehouse_url)
    try:
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
    finally:
        engine.dispose()
    replayed = validate_and_load(settings, datasets={str(name) for name in rows["dataset"].unique()})
    return [r for r in replayed if r.batch_id in replay_batches]


def work_waiting(dataset: str, settings: Settings) -> bool:
    """Whether the ledger holds batches of ``dataset`` that no load finished (landed, or left by a crashed load), or
    loaded batches whose KPI days no build took in (a KPI build that crashed).

    An ingest run that found nothing new still signals validation then (which signals the KPI build): stranded
    work waits for no new data.
    """
    engine = engine_for(settings.warehouse_url)
    try:
        if any(b.dataset == dataset for b in ledger.pending_batches(engine)):
            return True
        with engine.connect() as connection:
            return ledger.unbuilt_batches(connection, dataset) > 0
    finally:
        engine.dispose()


def kpis_waiting(settings: Settings) -> bool:
    """Whether loaded batches wait for their KPI days to be built (a KPI build that crashed or never ran)."""
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            return ledger.unbuilt_batches(connection) > 0
    finally:
        engine.dispose()


def pending_datasets(settings: Settings) -> tuple[list[str], list[str]]:
    """The datasets with landed batches waiting: (dimensions, facts), each in load order.

    The unit Airflow fans validation out over: one dataset's batches stay in one task, in landing order (the
    duplicate check and the volume history of a batch need its predecessors loaded); datasets run side by side,
    dimensions first so the facts' referential checks see the keys that arrived with them.
    """
    engine = engine_for(settings.warehouse_url)
    try:
        names = list(dict.fromkeys(b.dataset for b in ledger.pending_batches(engine)))
    finally:
        engine.dispose()
    return [n for n in names if BY_NAME[n].is_dimension], [n for n in names if not BY_NAME[n].is_dimension]


def validate_and_load(
    settings: Settings,
    validator: BatchValidator | None = None,
    datasets: Collection[str] | None = None,
    replay_orphaned: bool = True,
) -> list[BatchReport]:
    """Validate every landed batch (of ``datasets``) with GX and load it: valid rows to facts, the rest to quarantine.

    Then, with ``replay_orphaned``, rows quarantined only for a key that a newly loaded dimension now has are
    replayed (:func:`replay_orphans`).
    """
    from expectations.runner import BatchValidator

    engine = engine_for(settings.warehouse_url)
    reports = []
    claimer = ledger.new_claimer()
    stale_after = timedelta(seconds=settings.batch_claim_timeout_seconds)
    try:
        pending = [b for b in ledger.pending_batches(engine) if datasets is None or b.dataset in datasets]
        if pending and validator is None:
            validator = BatchValidator(settings.data_docs_dir)
        for batch in pending:
            with ledger.claimed(engine, batch.batch_id, claimer, stale_after) as mine:
                if not mine:
                    log.info("%s %s: another load holds it; left to that load", batch.dataset, batch.batch_id)
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
    finally:
        engine.dispose()
    return reports + replay_orphans(reports, settings) if replay_orphaned else reports


def _validate_and_load_batch(
    engine: Engine, batch: ledger.PendingBatch, validator: BatchValidator, settings: Settings
) -> BatchReport:
    """Judge one claimed batch with GX and write its verdict: valid rows to facts, the rest to quarantine."""
    from expectations.context import BatchScope, expectation_parameters
    from expectations.verdict import judge_batch
    from warehouse.deletes import apply_deletions
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
            partial(expectation_parameters, connection, scope),
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


def replay_orphans(reports: Sequence[BatchReport], settings: Settings) -> list[BatchReport]:
    """Late-arriving master data: replay rows quarantined only for a key that the loaded dimensions now have.

    ``reports`` are the batches just validated: their own rows were judged against these dimensions already.
    """
    loaded = {r.dataset for r in reports if r.status == "loaded"}
    if not loaded:
        return []
    engine = engine_for(settings.warehouse_url)
    try:
        orphans = ledger.orphans_of(engine, loaded, {r.batch_id for r in reports})
    finally:
        engine.dispose()
    if orphans.empty:
        return []
    log.info("%d quarantined row(s) referred to keys of %s: replaying them", len(orphans), ", ".join(sorted(loaded)))
    return _replay_rows(orphans, f"orphans__{ledger.utcnow():%Y%m%dT%H%M%S}", settings)


def build_kpis(pipeline_run_id: str, settings: Settings, full: bool = False) -> int:
    """Recompute the KPI rows of the days that newly loaded batches touched (every day with ``full``).

    The recomputed days replace their old rows, and the batches are marked built, in one transaction.
    """
    from transforms.kpi_tables import (
        cost_kpis,
        customer_kpis,
        feedback_kpis,
        people_kpis,
        production_kpis,
        retention_kpis,
        training_kpis,
    )
    from warehouse import kpi_holds, kpi_store

    engine = engine_for(settings.warehouse_url)
    try:
        with write_transaction(engine) as connection:
            holds = kpi_holds.sync_holds(connection)
            partitions = kpi_store.pending_partitions(connection, full=full).with_holds(holds)
            if partitions.empty:
                log.info("KPIs: no day changed since the last build")
                written = kpi_store.replace_partitions(connection, partitions, {}, pipeline_run_id)
            else:
                days = partitions.days
                as_of = kpi_store.training_as_of(connection)
                builders = {
                    "production": lambda d: production_kpis(*kpi_store.read_production(connection, d)),
                    "cost": lambda d: cost_kpis(*kpi_store.read_cost(connection, d)),
                    "customer": lambda d: customer_kpis(*kpi_store.read_customer(connection, d)),
                    "retention": lambda d: retention_kpis(
                        kpi_store.read_accounts(connection),
                        sorted(d if d is not None else kpi_store.activity_days(connection)),
                    ),
                    "feedback": lambda d: feedback_kpis(kpi_store.read_feedback(connection, d)),
                    "people": lambda d: people_kpis(
                        *kpi_store.read_people(connection),
                        sorted(d if d is not None else kpi_store.people_days(connection)),
                    ),
                    "training": lambda d: (
                        training_kpis(kpi_store.read_training(connection, d), as_of) if as_of else pd.DataFrame()
                    ),
                }
                frames = {
                    family: kpi_holds.without_held_days(build(days[family]), holds.held.get(family))
                    for family, build in builders.items()
                    if days[family] is None or days[family]
                }
                written = kpi_store.replace_partitions(connection, partitions, frames, pipeline_run_id)
                log.info(
                    "KPIs: rebuilt %s; %d rows written",
                    {f: "all days" if d is None else f"{len(d)} day(s)" for f, d in days.items()},
                    written,
                )
    finally:
        engine.dispose()
    return written


def check_regressions(pipeline_run_id: str, settings: Settings) -> list[Episode]:
    """Judge the KPI history by the configured rules; open, update and resolve alerts; queue their notifications.

    Returns the open episodes. Idempotent: a rerun on the same KPI tables changes nothing.
    """
    from alerts.channels import configured_channels
    from alerts.config import load_rules
    from alerts.lifecycle import reconcile, replace_spc_points
    from alerts.outbox import enqueue
    from alerts.regressions import find_regressions

    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            kpi_daily_rows = pd.read_sql(select(kpi_daily), connection)
            kpi_daily_rows["kpi_date"] = pd.to_datetime(kpi_daily_rows["kpi_date"]).dt.date
            config = load_rules(settings.alert_rules)
            episodes, points = find_regressions(connection, kpi_daily_rows, config)
        configured = set(configured_channels(config.channel_ids()))
        with engine.begin() as connection:
            now = ledger.utcnow()
            changes = reconcile(connection, episodes, now, pipeline_run_id)
            replace_spc_points(connection, points, now)
            queued = enqueue(connection, config, settings.report_url, configured, now)
    finally:
        engine.dispose()
    open_episodes = [e for e in episodes if e.resolved_date is None]
    log_alerts(open_episodes, changes, queued)
    return open_episodes


def send_notifications(settings: Settings) -> Delivery:
    """Deliver the pending notifications; a channel that is down keeps its own pending for the next run."""
    from alerts.channels import configured_channels
    from alerts.config import load_rules
    from alerts.outbox import deliver

    config = load_rules(settings.alert_rules)
    channels = configured_channels(config.channel_ids())
    engine = engine_for(settings.warehouse_url)
    try:
        delivery = deliver(engine, channels, ledger.utcnow())
    finally:
        engine.dispose()
    log.info("notifications: %d sent, %d pending", delivery.sent, delivery.pending)
    for error in delivery.errors.values():
        log.warning("notifications pending: %s", error)
    return delivery


def log_alerts(open_episodes: list[Episode], changes: Changes, queued: int) -> None:
    from alerts.lifecycle import describe

    for episode in open_episodes:
        if episode.alert_id in changes.opened:
            log.warning("ALERT %s", describe(episode)[1])
    log.info(
        "alerts: %d opened, %d updated, %d resolved, %d past episodes recorded; %d notification(s) queued",
        len(changes.opened),
        len(changes.updated),
        len(changes.resolved),
        len(changes.history),
        queued,
    )
