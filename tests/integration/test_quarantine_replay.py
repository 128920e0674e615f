"""Quarantined rows can be replayed after a fix: the fixed ones load, the rest are quarantined again, the
originals stay as history, and every count adds up in the ledger."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from core.engine import engine_for
from pipeline.ingest import ingest_dataset
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from pipeline.replay import replay_quarantined
from tests.helpers import read_table, run_chain
from warehouse.schema import quarantine

pytestmark = pytest.mark.integration


def _open(settings, dataset: str):  # type: ignore[no-untyped-def]
    rows = read_table(settings, "quarantine")
    return rows[(rows.status == "open") & (rows.dataset == dataset)]


def test_a_steward_fixes_a_quarantined_row_and_the_replay_loads_it(settings, demo_sources):
    run_chain(settings)
    before = _open(settings, "feedback")
    worded = before[before.failed_rules.str.contains("nps_score 'ten' is not a valid int")]
    assert len(worded) == 1
    fixed = {**json.loads(worded.raw_record.iloc[0]), "nps_score": "10"}  # the survey team confirms: ten
    engine = engine_for(settings.warehouse_url)
    with engine.begin() as connection:
        connection.execute(
            update(quarantine)
            .where(
                quarantine.c.batch_id == worded.batch_id.iloc[0],
                quarantine.c.source_row == int(worded.source_row.iloc[0]),
            )
            .values(raw_record=json.dumps(fixed))
        )
    engine.dispose()

    [report] = replay_quarantined("replay", settings, dataset="feedback")
    build_kpis("replay", settings)

    assert report.extracted == len(before) == report.loaded + report.quarantined + report.duplicates
    assert report.loaded == 1 and report.quarantined == len(before) - 1
    loaded = read_table(settings, "fact_feedback").set_index("response_id")
    assert loaded.loc[fixed["response_id"], "nps_score"] == 10
    history = read_table(settings, "quarantine")
    originals = history[history.batch_id.isin(before.batch_id.unique())]
    assert set(originals.status) == {"replayed"} and set(originals.replayed_in) == {report.batch_id}
    assert len(_open(settings, "feedback")) == len(before) - 1  # the still-bad rows, now under the replay batch
    ledger = read_table(settings, "batch_ledger")
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()


def test_replaying_again_without_a_fix_changes_nothing(settings, demo_sources):
    run_chain(settings)
    replay_quarantined("first", settings, dataset="production_runs")
    open_after_first = _open(settings, "production_runs")[["record_key", "failed_rules"]].sort_values("record_key")
    runs_after_first = read_table(settings, "fact_production_run")

    [again] = replay_quarantined("second", settings, dataset="production_runs")

    assert again.loaded == 0 and again.quarantined == len(open_after_first)
    after = _open(settings, "production_runs")[["record_key", "failed_rules"]].sort_values("record_key")
    assert after.reset_index(drop=True).equals(open_after_first.reset_index(drop=True))
    runs = read_table(settings, "fact_production_run")
    assert sorted(runs.run_id) == sorted(runs_after_first.run_id) and runs.row_hash.equals(runs_after_first.row_hash)
    ledger = read_table(settings, "batch_ledger")
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()


def test_rows_quarantined_for_an_unknown_key_load_once_the_master_data_brings_it(settings, demo_sources):
    """Late-arriving master data: the retired defect code the demo books is added back to the QMS catalogue; the
    next load of the defect codes replays the one defect that referred to it, without anyone asking."""
    from sqlalchemy import text

    from tests.helpers import INTERVAL_END

    run_chain(settings)
    waiting = _open(settings, "defects")
    orphan = waiting[waiting.failed_rules.str.contains("defect_code is a known defect_codes")]
    assert len(orphan) == 1 and json.loads(orphan.raw_record.iloc[0])["defect_code"] == "BENT_PIN_OLD"
    qms = engine_for(settings.qms_url)
    with qms.begin() as connection:
        connection.execute(
            text(
                "insert into defect_codes (defect_code, description, category, updated_at) "
                "values ('BENT_PIN_OLD', 'Bent pin (old code)', 'component', '2026-11-24 12:00:00')"
            )
        )
    qms.dispose()

    ingest_dataset("defect_codes", INTERVAL_END, "test", settings)
    reports = validate_and_load(settings)

    assert [r.dataset for r in reports] == ["defect_codes", "defects"]
    replay = reports[1]
    assert (replay.extracted, replay.loaded, replay.quarantined) == (1, 1, 0)
    assert orphan.record_key.iloc[0] in set(read_table(settings, "fact_defect").defect_id)
    history = read_table(settings, "quarantine").set_index(["batch_id", "source_row"])
    original = history.loc[(orphan.batch_id.iloc[0], int(orphan.source_row.iloc[0]))]
    assert (original.status, original.replayed_in) == ("replayed", replay.batch_id)
    # The other quarantined defects (negative counts) broke rules no master data can fix: they stay open.
    assert len(_open(settings, "defects")) == len(waiting) - 1
