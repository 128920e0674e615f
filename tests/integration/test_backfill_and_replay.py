"""Backfill (re-extracting a date range) and replay (reloading landed batches) are idempotent end to end."""

from __future__ import annotations

from datetime import date

import pytest

from core.catalog import SOURCES
from pipeline.ingest import IngestResult
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from pipeline.replay import backfill, replay
from tests.helpers import changed_tables, read_table, run_chain, snapshot

pytestmark = pytest.mark.integration

WEEK = (date(2026, 11, 9), date(2026, 11, 15))
DATA_TABLES = ("fact_production_run", "fact_defect", "fact_feedback", "fact_training_assignment", "kpi_daily")


def _data(settings) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    tables = snapshot(settings)
    return {name: tables[name] for name in DATA_TABLES} | {"kpi_period": tables["kpi_period"]}


def _backfill(settings) -> list[IngestResult]:  # type: ignore[no-untyped-def]
    results = [r for source in SOURCES if source != "survey" for r in backfill(source, *WEEK, "backfill", settings)]
    validate_and_load(settings)
    build_kpis("backfill", settings)
    return results


def test_a_backfill_of_a_week_changes_no_data_and_the_second_changes_nothing_at_all(settings, demo_sources):
    run_chain(settings)
    data_before = _data(settings)
    watermarks = read_table(settings, "source_watermark")

    first = _backfill(settings)
    after_first = snapshot(settings)
    second = _backfill(settings)

    assert sum(r.rows for r in first) > 1000 and any(r.new for r in first)  # the week was really re-extracted
    assert changed_tables(data_before, _data(settings)) == {}  # every re-extracted row was an unchanged duplicate
    ledger = read_table(settings, "batch_ledger").set_index("batch_id")
    backfilled = ledger.loc[[r.batch_id for r in first if r.batch_id]]
    assert (backfilled.rows_duplicate + backfilled.rows_quarantined == backfilled.rows_extracted).all()
    assert not any(r.new for r in second) and changed_tables(after_first, snapshot(settings)) == {}
    assert read_table(settings, "source_watermark").equals(watermarks)  # a backfill never moves a watermark


def test_replaying_a_batch_from_the_landing_zone_reproduces_its_outcome(settings, demo_sources):
    run_chain(settings)
    before = snapshot(settings)
    ledger = read_table(settings, "batch_ledger")
    chosen = list(ledger.sort_values("rows_quarantined").batch_id.iloc[-2:])  # batches with quarantined rows

    reports = replay(chosen, settings)
    build_kpis("replay", settings)

    assert sorted(r.batch_id for r in reports) == sorted(chosen)
    assert changed_tables(before, snapshot(settings)) == {}


def test_replaying_an_unknown_batch_is_a_clear_error(settings):
    with pytest.raises(KeyError, match="not in the ledger: no-such-batch"):
        replay(["no-such-batch"], settings)
