"""Deletes at the source reach the warehouse: a SQL hard delete and an API record that disappears or is flagged
deleted leave the facts, their KPI days are rebuilt, an extraction event says so, and the ledger adds up."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import text

from core.engine import engine_for
from tests.helpers import read_table, run_chain

pytestmark = pytest.mark.integration

DAY = "2026-11-20"  # a Friday: the demo plants rest on Sundays


def _ledger_adds_up(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    batches = read_table(settings, "batch_ledger")
    added = batches.rows_loaded + batches.rows_quarantined + batches.rows_duplicate + batches.rows_deleted
    assert (added == batches.rows_extracted).all()
    return batches


def _kpi(settings, kpi: str, day: str, **grain: str) -> pd.Series:  # type: ignore[no-untyped-def]
    rows = read_table(settings, "kpi_daily")
    rows = rows[(rows.kpi == kpi) & (pd.to_datetime(rows.kpi_date) == pd.Timestamp(day))]
    for column, value in grain.items():
        rows = rows[rows[column] == value]
    (row,) = rows.itertuples()
    return pd.Series(row._asdict())


def test_rows_hard_deleted_in_a_sql_source_leave_the_facts_and_their_kpi_days_are_rebuilt(settings, demo_sources):
    run_chain(settings)
    runs = read_table(settings, "fact_production_run")
    gone = runs[(pd.to_datetime(runs.production_date) == pd.Timestamp(DAY)) & (runs.line_id == "S1-L1")].head(2)
    assert len(gone) == 2
    before = _kpi(settings, "fpy", DAY, line_id="S1-L1", step_id="ALL")
    source = engine_for(settings.qms_url)
    with source.begin() as connection:  # the MES deletes two runs (and their defects) without a trace
        for run_id in gone.run_id:
            connection.execute(text("delete from defects where run_id = :r"), {"r": run_id})
            connection.execute(text("delete from production_runs where run_id = :r"), {"r": run_id})
    source.dispose()

    run_chain(settings, run_id="after-delete")

    runs_now = read_table(settings, "fact_production_run")
    assert not set(gone.run_id) & set(runs_now.run_id)
    assert not set(gone.run_id) & set(read_table(settings, "fact_defect").run_id)
    kept = read_table(settings, "fact_deletion")
    assert {json.loads(r)["run_id"] for r in kept[kept.dataset == "production_runs"].record} == set(gone.run_id)
    events = read_table(settings, "extraction_event")
    assert {"production_runs", "defects"} <= set(events[events.kind == "source_deleted"].dataset)

    after = _kpi(settings, "fpy", DAY, line_id="S1-L1", step_id="ALL")
    same_day = runs_now[(pd.to_datetime(runs_now.production_date) == pd.Timestamp(DAY)) & (runs_now.line_id == "S1-L1")]
    assert after.denominator == before.denominator - gone.units_entered.sum() == same_day.units_entered.sum()

    batches = _ledger_adds_up(settings)
    deletion = batches[(batches.batch_kind == "deletion") & (batches.dataset == "production_runs")]
    assert list(deletion.rows_deleted) == [2] and list(deletion.status) == ["loaded"]

    run_chain(settings, run_id="again")  # nothing more to delete: no new batch
    assert len(read_table(settings, "batch_ledger")) == len(batches)


def test_api_records_that_disappear_or_are_flagged_deleted_leave_the_facts(settings, demo_sources):
    run_chain(settings)
    store = settings.lms_store_dir / "training_assignments.json"
    document = json.loads(store.read_text())
    records = document["records"]
    due = sorted(records, key=lambda r: r["assigned_on"])[-2:]  # two recent ones
    vanished, flagged = due[0]["assignment_id"], due[1]["assignment_id"]
    document["records"] = [r for r in records if r["assignment_id"] != vanished]
    for record in document["records"]:
        if record["assignment_id"] == flagged:
            record.update(deleted=True, updated_at="2026-11-24T18:00:00")
    store.write_text(json.dumps(document))

    run_chain(settings, run_id="after-delete")

    facts = read_table(settings, "fact_training_assignment")
    assert not {vanished, flagged} & set(facts.assignment_id)
    kept = read_table(settings, "fact_deletion")
    assert {json.loads(r)["assignment_id"] for r in kept.record} == {vanished, flagged}
    batches = _ledger_adds_up(settings)
    deletion = batches[batches.batch_kind == "deletion"]
    assert deletion.rows_deleted.sum() == 2
    assert "deleted" not in read_table(settings, "fact_training_assignment").columns
