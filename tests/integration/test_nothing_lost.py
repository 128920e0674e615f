"""Nothing lost, nothing stuck: untypable values, implausible dates, a batch that raises, a crashed load's claim,
and re-delivered bad rows, each through the real source databases, landing zone, ledger and ``qp`` commands.

Every test ends with the ledger adding up per batch: extracted = loaded + quarantined + duplicates + deleted.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from cli.main import main
from core.engine import engine_for
from pipeline.ingest import ingest_dataset, ingest_source
from pipeline.load import validate_and_load
from pipeline.replay import backfill
from pipeline.summary import render
from tests.conftest import fresh_warehouse
from tests.helpers import INTERVAL_END, read_table, run_chain
from warehouse import ledger

pytestmark = pytest.mark.integration

RUN = {
    "site_id": "S1",
    "line_id": "S1-L1",
    "step_id": "ASSY",
    "product_id": "P100",
    "shift": "A",
    "units_entered": 100,
    "units_first_pass": 97,
    "units_reworked": 2,
    "units_scrapped": 1,
    "units_inspected": 100,
    "units_defective": 3,
    "planned_minutes": 120.0,
    "downtime_minutes": 10.0,
    "ideal_cycle_seconds": 30.0,
}


def _add_runs(qms_url: str, runs: list[dict[str, object]]) -> None:
    """Insert production runs into the QMS source database as its application would, bad values included."""
    engine = engine_for(qms_url)
    columns = [c for c in pd.read_sql("select * from production_runs limit 0", engine).columns if c != "id"]
    with engine.begin() as connection:
        for run in runs:
            row = {c: run.get(c, RUN.get(c)) for c in columns}
            names = ", ".join(row)
            connection.execute(
                text(f"insert into production_runs ({names}) values ({', '.join(':' + c for c in row)})"), row
            )
    engine.dispose()


def _run(run_id: str, day: str, **values: object) -> dict[str, object]:
    return {
        "run_id": run_id,
        "production_date": day,
        "started_at": f"{day} 08:00:00",
        "finished_at": f"{day} 10:00:00",
        "updated_at": "2026-11-24 12:00:00",
        **values,
    }


def _assert_ledger_adds_up(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    batches = read_table(settings, "batch_ledger")
    done = batches[batches.status.isin(["loaded", "blocked"])]
    added = done.rows_loaded + done.rows_quarantined + done.rows_duplicate + done.rows_deleted
    assert (added == done.rows_extracted).all(), done[["batch_id", "rows_extracted", "rows_loaded"]]
    quarantine = read_table(settings, "quarantine")
    per_batch = quarantine.groupby("batch_id").size()
    for batch in done.itertuples():
        assert per_batch.get(batch.batch_id, 0) == batch.rows_quarantined, batch.batch_id
    return batches


def _quarantined(settings, dataset: str) -> dict[str, tuple[list[str], dict]]:  # type: ignore[no-untyped-def]
    rows = read_table(settings, "quarantine")
    rows = rows[rows.dataset == dataset]
    return {
        json.loads(r.raw_record).get("run_id") or r.record_key: (json.loads(r.failed_rules), json.loads(r.raw_record))
        for r in rows.itertuples()
    }


def test_untypable_values_in_a_source_database_are_quarantined_with_column_and_reason(settings, demo_sources):
    _add_runs(
        settings.qms_url,
        [
            _run("BAD-DATE", "2026-02-30"),
            _run("BAD-DECIMAL", "2026-11-24", planned_minutes="1.234,56"),
            _run("BAD-THOUSANDS", "2026-11-24", units_entered="1,234"),
            _run("BAD-INFINITY", "2026-11-24", downtime_minutes=float("inf")),
            _run("BAD-NAN-TEXT", "2026-11-24", ideal_cycle_seconds="NaN"),
            # Two offsets in one column (a daylight-saving change): ordinary, normalised to UTC.
            _run("DST-SUMMER", "2026-10-24", started_at="2026-10-24 08:00:00+02:00"),
            _run("DST-WINTER", "2026-10-26", started_at="2026-10-26 08:00:00+01:00"),
        ],
    )
    ingest_source("qms", INTERVAL_END, "test", settings)  # no exception: the source's datasets all land
    reports = validate_and_load(settings)
    assert {r.status for r in reports} == {"loaded"}
    assert {r.dataset for r in reports} >= {"production_runs", "defects", "complaints", "lines"}

    bad = _quarantined(settings, "production_runs")
    expected = {
        "BAD-DATE": "type: production_date '2026-02-30' is not a valid date",
        "BAD-DECIMAL": "type: planned_minutes '1.234,56' is not a valid float",
        "BAD-THOUSANDS": "type: units_entered '1,234' is not a valid int",
        "BAD-INFINITY": "type: downtime_minutes inf is not a finite number",
        "BAD-NAN-TEXT": "type: ideal_cycle_seconds 'NaN' is not a finite number",
    }
    for run_id, reason in expected.items():
        rules, raw = bad[run_id]
        assert reason in rules, (run_id, rules)
        # The value as the source had it: in the record, or (when it could not even land typed) beside it.
        assert raw["_raw_line"] or raw["downtime_minutes"] == float("inf"), raw
    assert json.loads(bad["BAD-DATE"][1]["_raw_line"])["production_date"] == "2026-02-30"

    runs = read_table(settings, "fact_production_run").set_index("run_id")
    assert pd.Timestamp(runs.loc["DST-SUMMER", "started_at"]) == pd.Timestamp("2026-10-24 06:00:00")
    assert pd.Timestamp(runs.loc["DST-WINTER", "started_at"]) == pd.Timestamp("2026-10-26 07:00:00")
    assert not set(expected) & set(runs.index)
    _assert_ledger_adds_up(settings)


def test_non_finite_numbers_from_a_postgresql_source_are_quarantined(settings, tmp_path):
    with fresh_warehouse("postgresql", tmp_path / "source") as source_url:
        engine = engine_for(source_url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "create table production_runs (run_id text, site_id text, line_id text, step_id text, "
                    "product_id text, production_date date, shift text, started_at timestamptz, "
                    "finished_at timestamp, units_entered int, units_first_pass int, units_reworked int, "
                    "units_scrapped int, units_inspected int, units_defective int, planned_minutes double precision, "
                    "downtime_minutes double precision, ideal_cycle_seconds double precision, updated_at timestamp)"
                )
            )
        engine.dispose()
        _add_runs(
            source_url,
            [
                _run("PG-OK", "2026-11-24"),
                _run("PG-NAN", "2026-11-24", planned_minutes=float("nan")),
                _run("PG-INFINITY", "2026-11-24", ideal_cycle_seconds=float("-inf")),
                _run("PG-OFFSET", "2026-11-24", started_at="2026-11-24 08:00:00+05:00"),
            ],
        )
        result = ingest_dataset(
            "production_runs", INTERVAL_END, "test", settings.model_copy(update={"qms_url": source_url})
        )
    assert result.rows == 4
    validate_and_load(settings, replay_orphaned=False)
    bad = _quarantined(settings, "production_runs")
    assert set(bad) == {"PG-NAN", "PG-INFINITY"}
    assert "type: planned_minutes 'nan' is not a finite number" in bad["PG-NAN"][0]
    assert "type: ideal_cycle_seconds '-inf' is not a finite number" in bad["PG-INFINITY"][0]
    # Referential checks are unarmed on an empty warehouse: the good rows load, the offset one in UTC.
    runs = read_table(settings, "fact_production_run").set_index("run_id")
    assert set(runs.index) == {"PG-OK", "PG-OFFSET"}
    assert pd.Timestamp(runs.loc["PG-OFFSET", "started_at"]) == pd.Timestamp("2026-11-24 03:00:00")
    _assert_ledger_adds_up(settings)


def test_implausible_event_dates_are_quarantined_and_create_no_kpi_day(settings, demo_sources):
    _add_runs(
        settings.qms_url,
        [_run("FUTURE", "2031-11-24"), _run("ANCIENT", "1926-11-24"), _run("SKEWED", "2026-11-25")],
    )
    settings = settings.model_copy(update={"event_date_floors": {"production_runs": date(2020, 1, 1)}})
    run_chain(settings)
    bad = _quarantined(settings, "production_runs")
    assert any("later than the run's interval end allows" in r for r in bad["FUTURE"][0])
    assert any("earlier than the dataset's floor (2020-01-01)" in r for r in bad["ANCIENT"][0])
    assert "SKEWED" not in bad  # within the default day of skew after the interval's end (2026-11-25 00:00)
    days = set(pd.to_datetime(read_table(settings, "kpi_daily")["kpi_date"]).dt.date)
    assert date(2031, 11, 24) not in days and date(1926, 11, 24) not in days
    _assert_ledger_adds_up(settings)


def _corrupt(raw_path: str) -> bytes:
    original = Path(raw_path).read_bytes()
    with open(raw_path, "r+b") as handle:
        handle.seek(len(original) // 2)
        handle.write(b"\x00" * 16)
    return original


def test_a_batch_that_raises_fails_alone_then_replay_loads_it_and_resolves_its_alert(settings, demo_sources, qp):
    ingest_source("qms", INTERVAL_END, "test", settings)
    batches = read_table(settings, "batch_ledger").set_index("dataset")
    poisoned = batches.loc["defects"]
    original = _corrupt(poisoned.raw_path)  # the landing zone changed under the ledger: reading it raises

    reports = {r.dataset: r for r in validate_and_load(settings)}
    assert reports["defects"].status == "failed" and "ChecksumMismatch" in str(reports["defects"].reason)
    assert {r.status for d, r in reports.items() if d != "defects"} == {"loaded"}  # the others went on
    alerts = read_table(settings, "data_quality_alert")
    failed = alerts[alerts.kind == "failed_batch"]
    assert list(failed.status) == ["open"] and poisoned.name in failed.message.iloc[0]
    assert validate_and_load(settings) == []  # the next run doesn't trip over it again
    assert f"{poisoned.batch_id}: failed" in render(settings)

    Path(poisoned.raw_path).write_bytes(original)  # the fix
    assert qp(["replay", str(poisoned.batch_id)]) == 0
    batches = _assert_ledger_adds_up(settings).set_index("batch_id")
    assert batches.loc[poisoned.batch_id, "status"] == "loaded"
    alerts = read_table(settings, "data_quality_alert")
    assert list(alerts[alerts.kind == "failed_batch"].status) == ["resolved"]


def test_a_failed_batch_can_be_dismissed_and_an_unknown_one_is_an_error(settings, demo_sources, qp, capsys):
    ingest_dataset("sites", INTERVAL_END, "test", settings)
    batch = read_table(settings, "batch_ledger").iloc[0]
    engine = engine_for(settings.warehouse_url)
    with engine.begin() as connection:  # as the load would have left it, had it raised
        ledger.mark_failed(connection, batch.batch_id, "RuntimeError: the warehouse went away")
    engine.dispose()

    assert qp(["quarantine", "dismiss", "--batch", "no-such-batch", "--reason", "typo"]) == 1
    assert "not in the ledger: no-such-batch" in capsys.readouterr().err
    assert qp(["quarantine", "dismiss", "--batch", str(batch.batch_id), "--reason", "re-sent under a new batch"]) == 0
    assert f"{batch.rows_extracted} row(s) of {batch.batch_id} dismissed" in capsys.readouterr().out
    batches = _assert_ledger_adds_up(settings)
    assert list(batches.status) == ["blocked"] and batches.rows_quarantined.iloc[0] == batch.rows_extracted
    quarantine = read_table(settings, "quarantine")
    assert set(quarantine.status) == {"dismissed"}
    assert all("dismissed: re-sent under a new batch" in json.loads(r)[-1] for r in quarantine.failed_rules)


@pytest.fixture
def qp(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """The ``qp`` command on the test's warehouse, as a user's shell would run it (configured by the environment)."""
    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    return main


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_crashed_loads_claim_is_taken_over_and_a_live_one_is_left_alone(settings, demo_sources):
    ingest_source("qms", INTERVAL_END, "test", settings)
    engine = engine_for(settings.warehouse_url)
    ids = read_table(settings, "batch_ledger").set_index("dataset")["batch_id"]
    crashed, live = ids["production_runs"], ids["defects"]
    with engine.begin() as connection:
        claims = {crashed: f"{socket.gethostname()}:{_dead_pid()}:dead", live: ledger.new_claimer()}
        for batch_id, claimer in claims.items():
            connection.execute(
                text(
                    "update batch_ledger set status = 'processing', claimed_by = :c, claimed_at = :t "
                    "where batch_id = :b"
                ),
                {"c": claimer, "t": datetime(2026, 11, 25, 1), "b": batch_id},
            )
    holder = engine.connect()  # on PostgreSQL, the live claimer also holds its advisory lock
    if engine.dialect.name == "postgresql":
        holder.execute(text("select pg_advisory_lock(hashtext(:k))"), {"k": f"qualitypulse.batch:{live}"})
    stale_after = settings.model_copy(update={"batch_claim_timeout_seconds": 10**9})
    try:
        reports = {r.batch_id: r for r in validate_and_load(stale_after, replay_orphaned=False)}
    finally:
        holder.invalidate()  # the holder's session ends, as when a worker dies: its advisory lock goes with it
        holder.close()
    assert reports[crashed].status == "loaded"
    assert live not in reports
    status = read_table(settings, "batch_ledger").set_index("batch_id")["status"]
    assert status[live] == "processing"
    assert "claimed by" in render(settings)

    # Once the live claim is old (SQLite) or its holder is gone (PostgreSQL), the next run takes it over.
    reports = {
        r.batch_id: r
        for r in validate_and_load(
            settings.model_copy(update={"batch_claim_timeout_seconds": 60}), replay_orphaned=False
        )
    }
    assert reports[live].status == "loaded"
    engine.dispose()
    _assert_ledger_adds_up(settings)


def test_a_backfill_re_delivering_quarantined_rows_adds_no_quarantine_rows(settings, demo_sources):
    run_chain(settings)
    before = read_table(settings, "quarantine")
    bad_days = {
        pd.Timestamp(json.loads(r)["updated_at"]).date() for r in before[before.dataset == "production_runs"].raw_record
    }
    day = min(bad_days)  # a week around one of the demo's bad production runs
    backfill("qms", day.replace(day=max(1, day.day - 3)), day, "backfill", settings)
    validate_and_load(settings)
    after = read_table(settings, "quarantine")
    assert len(after) == len(before)
    batches = _assert_ledger_adds_up(settings)
    backfilled = batches[batches.batch_kind == "backfill"]
    assert len(backfilled) and (backfilled.rows_duplicate == backfilled.rows_extracted).all()
    assert backfilled[backfilled.dataset == "production_runs"].rows_extracted.iloc[0] > 0


def test_non_finite_numbers_in_file_drops_and_the_api_are_quarantined(settings, demo_sources):
    from demo.source_systems import FEEDBACK_COLUMNS

    run_chain(settings)
    customer = read_table(settings, "dim_customer").query("site_id == 'S1'").customer_id.iloc[0]
    row = {"responded_at": "2026-11-24T09:00:00", "customer_id": customer, "site_id": "S1", "comment": ""}
    csv_rows = [
        {**row, "response_id": "NF-CSV-NAN", "nps_score": "NaN", "csat_score": "4"},
        {**row, "response_id": "NF-CSV-INF", "nps_score": "9", "csat_score": "Infinity"},
        {**row, "response_id": "NF-CSV-OK", "nps_score": "9", "csat_score": "5"},
    ]
    drop = settings.survey_drop_dir
    pd.DataFrame(csv_rows, columns=list(FEEDBACK_COLUMNS)).to_csv(drop / "nonfinite.csv", index=False)
    json_row = {**row, "responded_at": "2026-11-24T10:00:00"}
    lines = [  # json.dumps writes NaN and -Infinity literals, as many exporters do
        json.dumps({**json_row, "response_id": "NF-JSON-NAN", "nps_score": float("nan"), "csat_score": 4}),
        json.dumps({**json_row, "response_id": "NF-JSON-INF", "nps_score": 8, "csat_score": float("-inf")}),
    ]
    (drop / "nonfinite.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("nonfinite.csv", "nonfinite.jsonl"):
        (drop / f"{name}.ready").touch()
    store = settings.lms_store_dir / "training_assignments.json"
    document = json.loads(store.read_text())
    assignment = {**document["records"][-1], "assignment_id": "NF-API-NAN", "score": float("nan")}
    assignment["updated_at"] = "2026-11-24T20:00:00"
    document["records"].append(assignment)
    store.write_text(json.dumps(document))  # the API answers with a JSON NaN literal, as some do

    run_chain(settings, run_id="non-finite")

    bad = read_table(settings, "quarantine")
    reasons = {
        json.loads(r.raw_record).get("response_id") or json.loads(r.raw_record).get("assignment_id"): r.failed_rules
        for r in bad.itertuples()
    }
    assert "nps_score 'NaN' is not a finite number" in reasons["NF-CSV-NAN"]
    assert "csat_score 'Infinity' is not a finite number" in reasons["NF-CSV-INF"]
    assert "nps_score 'nan' is not a finite number" in reasons["NF-JSON-NAN"]
    assert "csat_score '-inf' is not a finite number" in reasons["NF-JSON-INF"]
    assert "score 'nan' is not a finite number" in reasons["NF-API-NAN"]
    assert "NF-CSV-OK" in set(read_table(settings, "fact_feedback").response_id)
    _assert_ledger_adds_up(settings)
