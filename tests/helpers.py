"""Helpers the tests share: run the chain without Airflow, and snapshot the warehouse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from core.catalog import SOURCES
from core.engine import engine_for
from core.settings import Settings
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions
from pipeline.capability import build_capability
from pipeline.improvements import evaluate_improvements
from pipeline.ingest import IngestResult, ingest_dataset, ingest_source
from pipeline.kpis import build_kpis
from pipeline.load import BatchReport, validate_and_load
from warehouse.schema import metadata

# The repository's root: the tests run from its checkout (the installed package knows nothing of it).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
INTERVAL_END = datetime(2026, 11, 25)
# Columns that record when or by which run something happened, not what the warehouse holds.
AUDIT_COLUMNS = {
    "loaded_at",
    "data_docs_page",  # the page's path carries the validation's time
    "landed_at",
    "processed_at",
    "quarantined_at",
    "validated_at",
    "computed_at",
    "raised_at",
    "updated_at",
    "taken_at",
    "kpis_built_at",
    "pipeline_run_id",
}


def run_chain(settings: Settings, run_id: str = "test-run", interval_end: datetime = INTERVAL_END) -> list[BatchReport]:
    for source in SOURCES:
        ingest_source(source, interval_end, run_id, settings)
    reports = validate_and_load(settings)
    build_kpis(run_id, settings)
    check_regressions(run_id, settings, configured_channels)
    evaluate_improvements(settings)
    build_capability(settings)
    return reports


def ingest_and_load(settings: Settings, dataset: str) -> tuple[IngestResult, list[BatchReport]]:
    """Extract one dataset up to ``INTERVAL_END`` and load what landed; every batch's counts must add up."""
    result = ingest_dataset(dataset, INTERVAL_END, "test", settings)
    reports = validate_and_load(settings)
    for report in reports:
        assert report.extracted == report.loaded + report.quarantined + report.duplicates + report.deleted, report
    return result, reports


def read_table(settings: Settings, name: str) -> pd.DataFrame:
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            return pd.read_sql(select(metadata.tables[name]), connection)
    finally:
        engine.dispose()


def snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """Every table's content without audit columns, sorted: equal snapshots mean an unchanged warehouse."""
    out = {}
    for name in metadata.tables:
        frame = read_table(settings, name)
        if name == "source_watermark":
            frame = frame.drop(columns=["updated_at"])
        else:
            frame = frame.drop(columns=[c for c in frame.columns if c in AUDIT_COLUMNS and c != "updated_at"])
        out[name] = sorted(frame.astype(str).itertuples(index=False, name=None))
    return out


def changed_tables(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, str]:
    """The tables whose content differs between two snapshots, each with a short account of how.

    Comparing whole snapshots with ``==`` makes pytest diff millions of characters on failure; this says which
    tables changed and by how many rows, with one example row.
    """
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, [])), set(after.get(name, []))
        if old != new:
            example = next(iter(new - old), None) or next(iter(old - new))
            out[name] = f"{len(new - old)} rows added, {len(old - new)} gone, e.g. {str(example)[:400]}"
    return out
