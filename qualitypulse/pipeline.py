"""The pipeline's stages as plain functions: what each Airflow task calls, and what tests and the CLI call.

ingest_source -> validate_and_load -> build_kpis -> check_regressions. Each stage takes the work it finds
(new data since a watermark, landed batches in the ledger), so a lost trigger only delays data, and a
rerun finds nothing new and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine, insert, select

from qualitypulse.settings import Settings
from sources import landing
from sources.catalog import BY_NAME, Dataset, datasets_of
from sources.extract import Extraction, extract_file_drops, extract_json_export, extract_sql
from warehouse import ledger
from warehouse.db import engine_for
from warehouse.schema import FACT_TABLES, alert, kpi_daily

if TYPE_CHECKING:
    from alerts.regressions import Alert
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


def ingest_source(source: str, interval_end: datetime, pipeline_run_id: str, settings: Settings) -> list[IngestResult]:
    """Extract what is new in each dataset of ``source`` up to ``interval_end`` and land it as raw batches."""
    return [ingest_dataset(d.name, interval_end, pipeline_run_id, settings) for d in datasets_of(source)]


def ingest_dataset(name: str, interval_end: datetime, pipeline_run_id: str, settings: Settings) -> IngestResult:
    """Extract what is new in one dataset since its watermark, up to ``interval_end``; land it; enter it."""
    dataset = BY_NAME[name]
    engine = engine_for(settings.warehouse_url)
    try:
        log.info("%s: extracting changes after the watermark, up to %s", dataset.name, interval_end)
        extraction = _extract(dataset, engine, interval_end, settings)
        if extraction.is_empty:
            log.info("%s: nothing new up to %s", dataset.name, interval_end)
            return IngestResult(dataset.name, None, 0, new=False)
        manifest = landing.land(
            extraction.frame,
            source=dataset.source,
            dataset=dataset.name,
            landing_dir=settings.landing_dir,
            interval_end=interval_end,
            watermark_from=ledger.get_watermark(engine, dataset.name),
            watermark_to=extraction.watermark_to,
            files=extraction.files,
        )
        new = ledger.record_landed(engine, manifest, pipeline_run_id)
    finally:
        engine.dispose()
    log.info(
        "%s: landed %d rows as %s%s",
        dataset.name,
        manifest.row_count,
        manifest.batch_id,
        "" if new else " (already in the ledger)",
    )
    return IngestResult(dataset.name, manifest.batch_id, manifest.row_count, new=new)


def _extract(dataset: Dataset, engine: Engine, interval_end: datetime, settings: Settings) -> Extraction:
    if dataset.source in ("qms", "finance"):
        url = settings.qms_url if dataset.source == "qms" else settings.finance_url
        return extract_sql(dataset, url, ledger.get_watermark(engine, dataset.name), interval_end)
    if dataset.source == "survey":
        return extract_file_drops(dataset, settings.survey_drop_dir, ledger.taken_file_checksums(engine, dataset.name))
    if dataset.source == "lms":
        return extract_json_export(
            dataset,
            settings.lms_export_dir / f"{dataset.name}.json",
            ledger.get_watermark(engine, dataset.name),
            interval_end,
        )
    raise ValueError(f"unknown source {dataset.source!r}")


def validate_and_load(settings: Settings, validator: BatchValidator | None = None) -> list[BatchReport]:
    """Validate every landed batch with GX and load it: valid rows to facts, the rest to quarantine."""
    from expectations.runner import BatchValidator
    from expectations.verdict import judge_batch
    from warehouse.loads import apply_verdict

    engine = engine_for(settings.warehouse_url)
    reports = []
    try:
        pending = ledger.pending_batches(engine)
        if pending and validator is None:
            validator = BatchValidator(settings.data_docs_dir)
        for batch in pending:
            raw = landing.read_batch(batch.raw_path, batch.raw_checksum)
            verdict = judge_batch(raw, BY_NAME[batch.dataset], batch.batch_id, validator)  # type: ignore[arg-type]
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
            reports.append(report)
    finally:
        engine.dispose()
    return reports


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
    from warehouse import kpi_store

    engine = engine_for(settings.warehouse_url)
    try:
        with engine.begin() as connection:
            partitions = kpi_store.pending_partitions(connection, full=full)
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
                    family: build(days[family])
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


def check_regressions(pipeline_run_id: str, settings: Settings) -> list[Alert]:
    """Judge each line's daily fraction defective on a p-chart; store and log the alerts (idempotent)."""
    from alerts.notify import log_alerts
    from alerts.regressions import fraction_defective_alerts

    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            daily = pd.read_sql(
                select(kpi_daily).where(kpi_daily.c.kpi == "fraction_defective", kpi_daily.c.grain == "line"),
                connection,
            )
            runs = FACT_TABLES["production_runs"]
            defects = FACT_TABLES["defects"]
            by_line_day = pd.read_sql(
                select(runs.c.line_id, runs.c.production_date, defects.c.defect_code, defects.c.defect_count).join(
                    runs, runs.c.run_id == defects.c.run_id
                ),
                connection,
            )
        daily["kpi_date"] = pd.to_datetime(daily["kpi_date"]).dt.date
        by_line_day["production_date"] = pd.to_datetime(by_line_day["production_date"]).dt.date
        alerts = fraction_defective_alerts(
            daily, by_line_day, settings.spc_baseline_days, settings.spc_min_baseline_days
        )
        with engine.begin() as connection:
            known = set(connection.scalars(select(alert.c.alert_id)))
            new = [a for a in alerts if a.alert_id not in known]
            if new:
                now = ledger.utcnow()
                connection.execute(
                    insert(alert),
                    [
                        {**a.as_row(), "status": "open", "pipeline_run_id": pipeline_run_id, "raised_at": now}
                        for a in new
                    ],
                )
    finally:
        engine.dispose()
    log_alerts(new, already_open=len(alerts) - len(new))
    return alerts
