"""Ingest: extract what is new at a source, land it as batches, and reconcile what the source deleted.

Each run takes the work it finds (new data since a watermark), so a lost trigger only delays data and a rerun
finds nothing new and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from core import landing, redaction
from core.catalog import BY_NAME, Dataset, datasets_of
from core.engine import Warehouse, stage_warehouse
from core.records import SourceEvent
from core.settings import Settings
from sources import deletes
from sources.extract import Extraction, SourceUnavailable, change_keys_of, extract_sql
from sources.file_drops import extract_file_drops
from sources.http_api import HttpSource, extract_http
from warehouse import freshness, ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    dataset: str
    batch_id: str | None
    rows: int
    new: bool  # False when nothing new was found, or the same batch had landed before


def ingest_source(source: str, interval_end: datetime, pipeline_run_id: str, settings: Settings) -> list[IngestResult]:
    """Extract what is new in each dataset of ``source`` up to ``interval_end`` and land it as raw batches."""
    with Warehouse(settings.warehouse_url) as warehouse:
        return [
            ingest_dataset(d.name, interval_end, pipeline_run_id, settings, warehouse=warehouse)
            for d in datasets_of(source)
        ]


def ingest_dataset(
    name: str,
    interval_end: datetime,
    pipeline_run_id: str,
    settings: Settings,
    backfill_from: datetime | None = None,
    warehouse: Warehouse | None = None,
) -> IngestResult:
    """Extract what is new in one dataset since its watermark, up to ``interval_end``; land it; enter it.

    With ``backfill_from`` it re-extracts the changes in (backfill_from, interval_end] instead, whatever the
    watermark, and leaves the watermark alone: rows the warehouse holds already load as unchanged duplicates,
    and a second backfill of the same window lands the same batch, which the ledger knows.
    """
    dataset = BY_NAME[name]
    with stage_warehouse(settings.warehouse_url, warehouse) as opened:
        engine = opened.engine
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
