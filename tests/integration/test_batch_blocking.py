"""A batch-level critical failure blocks the batch and withholds the KPIs that depend on it, until it is resolved.

Daily production batches land through the landing zone and the ledger as an extraction would land them; three
weeks of history teach the volume check each weekday's usual count (Sundays are quiet). Then a Monday batch
collapses: it is blocked, its day is withheld from the KPI tables, the ledger, the hold table and a data-quality
alert say why, and replaying its rows after the fact releases the day, which is rebuilt.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from core import landing
from core.engine import engine_for
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions, send_notifications
from pipeline.kpis import build_kpis
from pipeline.load import BatchReport, validate_and_load
from pipeline.replay import replay_quarantined
from tests.helpers import read_table
from warehouse import ledger

pytestmark = pytest.mark.integration

FIRST_DAY = date(2026, 10, 5)  # a Monday
MASTER_DATA = {
    "sites": [{"site_id": "S1", "site_name": "Plant", "updated_at": "2026-01-01 00:00:00"}],
    "lines": [{"line_id": "L1", "site_id": "S1", "line_name": "Line 1", "updated_at": "2026-01-01 00:00:00"}],
    "process_steps": [{"step_id": "ASSY", "step_name": "Assembly", "step_sequence": 1, "updated_at": "2026-01-01"}],
    "products": [
        {"product_id": "P1", "product_name": "Board", "opportunities_per_unit": 10, "updated_at": "2026-01-01"}
    ],
}


def _runs(day: date, count: int, changed_at: datetime | None = None) -> pd.DataFrame:
    start = datetime.combine(day, time(6))
    return pd.DataFrame(
        [
            {
                "run_id": f"R-{day:%Y%m%d}-{i:02d}",
                "site_id": "S1",
                "line_id": "L1",
                "step_id": "ASSY",
                "product_id": "P1",
                "production_date": day.isoformat(),
                "shift": "A",
                "started_at": str(start + timedelta(minutes=30 * i)),
                "finished_at": str(start + timedelta(minutes=30 * i + 25)),
                "units_entered": 100,
                "units_first_pass": 95,
                "units_reworked": 3,
                "units_scrapped": 2,
                "units_inspected": 100,
                "units_defective": 5,
                "planned_minutes": 30.0,
                "downtime_minutes": 2.0,
                "ideal_cycle_seconds": 12.0,
                "updated_at": str(changed_at or start + timedelta(minutes=30 * i + 26)),
            }
            for i in range(count)
        ]
    )


def _land(settings, dataset: str, frame: pd.DataFrame, interval_end: datetime) -> str:  # type: ignore[no-untyped-def]
    """Land ``frame`` as the nightly batch of ``dataset`` for the interval ending at ``interval_end``."""
    engine = engine_for(settings.warehouse_url)
    try:
        manifest = landing.land(
            frame,
            source="qms",
            dataset=dataset,
            landing_dir=settings.landing_dir,
            interval_end=interval_end,
            watermark_from=ledger.get_watermark(engine, dataset),
            watermark_to=interval_end - timedelta(seconds=1),
        )
        assert ledger.record_landed(engine, manifest, "test")
    finally:
        engine.dispose()
    return manifest.batch_id


def _nightly(settings, day: date, runs: pd.DataFrame) -> BatchReport:  # type: ignore[no-untyped-def]
    batch_id = _land(settings, "production_runs", runs, datetime.combine(day + timedelta(days=1), time(0)))
    (report,) = [r for r in validate_and_load(settings) if r.batch_id == batch_id]
    return report


def _fpy_days(settings) -> set[date]:  # type: ignore[no-untyped-def]
    kpis = read_table(settings, "kpi_daily")
    return set(pd.to_datetime(kpis.loc[kpis.kpi == "fpy", "kpi_date"]).dt.date)


def test_a_volume_collapse_blocks_its_batch_and_withholds_its_kpis_until_replayed(settings):
    for dataset, rows in MASTER_DATA.items():
        _land(settings, dataset, pd.DataFrame(rows), datetime(2026, 10, 5))
    for offset in range(28):  # four weeks: 12 runs a day, 2 on Sundays
        day = FIRST_DAY + timedelta(days=offset)
        report = _nightly(settings, day, _runs(day, 2 if day.weekday() == 6 else 12))
        assert report.status == "loaded", report  # a quiet Sunday is no collapse: Sundays are compared with Sundays
    sunday, monday = FIRST_DAY + timedelta(days=27), FIRST_DAY + timedelta(days=28)
    collapsed = _nightly(settings, monday, _runs(monday, 1))  # 1 run where Mondays bring 12
    build_kpis("test", settings)

    assert collapsed.status == "blocked" and collapsed.loaded == 0 and collapsed.quarantined == 1
    assert "row count at least 25% of the weekday's trailing average (observed 1)" in collapsed.reason
    assert monday not in _fpy_days(settings) and sunday in _fpy_days(settings)  # the day is withheld, not half-built
    holds = read_table(settings, "kpi_hold")
    assert holds[["family", "batch_id"]].values.tolist() == [["production", collapsed.batch_id]]
    assert pd.Timestamp(holds.kpi_date.iloc[0]).date() == monday and holds.released_at.isna().all()
    (alert,) = read_table(settings, "data_quality_alert").itertuples()
    assert (alert.kind, alert.status, alert.last_batch_id) == ("blocked_batch", "open", collapsed.batch_id)
    results = read_table(settings, "validation_result").set_index(["batch_id", "rule"])
    volume = results.loc[(collapsed.batch_id, "row count at least 25% of the weekday's trailing average")]
    assert not volume.success and volume.judged and json.loads(volume.observed_value) == 1

    # The steward confirms the single run is all Monday had (a line stop); replayed, it loads and the day is built.
    (replayed,) = replay_quarantined("steward", settings, batch_id=collapsed.batch_id)
    build_kpis("test", settings)

    assert replayed.status == "loaded" and replayed.loaded == 1
    assert monday in _fpy_days(settings)
    assert read_table(settings, "kpi_hold").released_at.notna().all()
    assert read_table(settings, "data_quality_alert").status.tolist() == ["resolved"]


def test_stale_data_blocks_the_batch_and_holds_the_days_it_carries(settings, webhook_receiver, monkeypatch):
    for dataset, rows in MASTER_DATA.items():
        _land(settings, dataset, pd.DataFrame(rows), datetime(2026, 10, 5))
    day = FIRST_DAY
    assert _nightly(settings, day, _runs(day, 12)).status == "loaded"
    build_kpis("test", settings)
    # A week later the MES interface re-sends a batch whose newest change is six days old: it is stuck.
    late = day + timedelta(days=1)
    stale = _runs(late, 12, changed_at=datetime.combine(late, time(8)))
    report = _nightly(settings, late + timedelta(days=6), stale)
    build_kpis("test", settings)

    assert report.status == "blocked"
    assert "newest updated_at within 48 h of the interval end" in report.reason
    assert late not in _fpy_days(settings) and day in _fpy_days(settings)
    ledger_row = read_table(settings, "batch_ledger").set_index("batch_id").loc[report.batch_id]
    assert ledger_row.status == "blocked" and ledger_row.reason == report.reason
    assert ledger_row.rows_extracted == ledger_row.rows_quarantined == 12
    # The blocked batch is a critical data-quality alert, announced through the alert channels.
    hook = webhook_receiver
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", hook.url)
    check_regressions("test", settings, configured_channels)
    send_notifications(settings, configured_channels)
    [blocked] = [r["json"] for r in hook.requests]
    assert blocked["kind"] == "data_quality" and blocked["severity"] == "critical"
    assert report.batch_id in blocked["text"] and "blocked" in blocked["text"]

    # The MES team says the batch was a mistaken re-send: dismissed, it releases its hold; nothing is loaded.
    engine = engine_for(settings.warehouse_url)
    try:
        assert ledger.dismiss_quarantine(engine, report.batch_id, "re-sent by mistake (MES ticket 4711)") == 12
    finally:
        engine.dispose()
    build_kpis("test", settings)
    assert read_table(settings, "kpi_hold").released_at.notna().all()
    assert read_table(settings, "data_quality_alert").status.tolist() == ["resolved"]
    check_regressions("test", settings, configured_channels)
    send_notifications(settings, configured_channels)
    assert [r["json"]["subject"][:10] for r in hook.requests] == ["Data quali", "Resolved: "]
    quarantine = read_table(settings, "quarantine")
    assert set(quarantine.status) == {"dismissed"}
    assert all("dismissed: re-sent by mistake" in rules for rules in quarantine.failed_rules)
