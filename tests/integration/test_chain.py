"""The whole chain on a real warehouse (SQLite and PostgreSQL) with real GX, from the demo sources."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from demo.source_systems import DRIFT_LINE, DRIFT_START, REGRESSION_LINE, REGRESSION_START, DemoSpec
from tests.conftest import DEMO_END
from tests.helpers import changed_tables, read_table, run_chain, snapshot

pytestmark = pytest.mark.integration


def test_every_source_row_is_loaded_quarantined_or_a_duplicate(demo_warehouse):
    settings, demo_sources = demo_warehouse
    ledger = read_table(settings, "batch_ledger")

    assert set(ledger["status"]) == {"loaded"}
    added_up = ledger["rows_loaded"] + ledger["rows_quarantined"] + ledger["rows_duplicate"]
    assert (added_up == ledger["rows_extracted"]).all()
    extracted = ledger.groupby("dataset")["rows_extracted"].sum().to_dict()
    assert extracted == demo_sources  # every row the sources hold was extracted, none twice
    for dataset, table in (
        ("production_runs", "fact_production_run"),
        ("feedback", "fact_feedback"),
        ("training_assignments", "fact_training_assignment"),
        ("defects", "fact_defect"),
    ):
        loaded = ledger.loc[ledger["dataset"] == dataset, "rows_loaded"].sum()
        assert len(read_table(settings, table)) == loaded
    quarantine = read_table(settings, "quarantine")
    per_batch = ledger.set_index("batch_id")["rows_quarantined"]
    assert quarantine.groupby("batch_id").size().to_dict() == per_batch[per_batch > 0].to_dict()


def test_bad_records_are_quarantined_with_the_rule_they_broke(demo_warehouse):
    settings, _ = demo_warehouse
    quarantine = read_table(settings, "quarantine")
    reasons = [(row.dataset, reason) for row in quarantine.itertuples() for reason in json.loads(row.failed_rules)]

    def count(dataset: str, text: str) -> int:
        return sum(1 for d, reason in reasons if d == dataset and text in reason)

    assert count("feedback", "nps_score between 0 and 10") == 1  # the score of 11
    assert count("feedback", "nps_score 'ten' is not a valid int") == 1
    assert count("feedback", "customer_id is present") == 1
    assert count("feedback", "csat_score between 1 and 5") == 1
    assert count("feedback", "file could not be parsed") > 10  # every line of the mangled file
    assert count("feedback", "file lacks required column(s): nps_score") > 5
    assert count("production_runs", "line_id is present") == 3
    assert count("production_runs", "units_inspected >= units_defective") == 2
    assert count("defects", "defect_count >= 1") == 2
    assert count("defects", "defect_code is a known defect_codes") == 1  # the retired code
    assert count("training_assignments", "completed_on >= assigned_on") == 1
    assert count("training_assignments", "score between 0 and 100") == 1
    raw = json.loads(quarantine.loc[quarantine["failed_rules"].str.contains("between 0 and 10")].iloc[0].raw_record)
    assert raw["nps_score"] == "11"  # the raw record is kept as the source sent it


def test_kpi_rows_keep_numerator_and_denominator(demo_warehouse):
    settings, _ = demo_warehouse
    kpis = read_table(settings, "kpi_daily")

    assert {"fpy", "fraction_defective", "dpmo", "sigma_level", "nps", "csat", "training_completion"} <= set(kpis.kpi)
    fpy = kpis[kpis.kpi == "fpy"]
    assert (fpy["value"] - fpy["numerator"] / fpy["denominator"]).abs().max() < 1e-12
    assert fpy["value"].between(0, 1).all()
    nps = kpis[kpis.kpi == "nps"]
    assert nps["value"].between(-100, 100).all()
    # A company row sums its lines' numerators and denominators (never an average of ratios).
    day = fpy["kpi_date"].max()
    lines = fpy[(fpy.kpi_date == day) & (fpy.grain == "line")]
    company = fpy[(fpy.kpi_date == day) & (fpy.grain == "company")].iloc[0]
    assert company.numerator == lines.numerator.sum() and company.denominator == lines.denominator.sum()


def test_the_injected_regression_raises_one_open_alert_on_its_line_within_two_days(demo_warehouse):
    settings, _ = demo_warehouse
    alerts = read_table(settings, "alert")
    regression_day = DemoSpec(end_date=DEMO_END).day(REGRESSION_START)
    line_alerts = alerts[alerts.rule_name == "line_fraction_defective"]

    [injected] = line_alerts[(line_alerts.line_id == REGRESSION_LINE) & (line_alerts.status == "open")].itertuples()
    began = pd.Timestamp(injected.since_date).date()
    assert regression_day <= began <= regression_day + timedelta(days=1)  # caught within two days of its start
    assert str(injected.last_date)[:10] == DEMO_END.isoformat()  # one alert, updated day after day
    assert injected.days_adverse >= 8 and injected.severity == "critical"
    assert injected.value > injected.limit_value
    top_codes = [c["defect_code"] for c in json.loads(injected.contributors)]
    assert set(top_codes[:2]) <= {"SOLDER_BRIDGE", "COLD_JOINT"}
    assert REGRESSION_LINE in injected.message and "SOLDER_BRIDGE" in injected.message
    # Nothing is open on the healthy lines; over the 90 days they raised at most a chance point or two.
    healthy = line_alerts[~line_alerts.line_id.isin([REGRESSION_LINE, DRIFT_LINE])]
    assert (healthy.status == "resolved").all() and len(healthy) <= 3
    assert (healthy.days_adverse == 1).all()
    assert (pd.to_datetime(healthy.since_date).dt.date < regression_day).all()  # none while the regression runs
    # The NPS dip at the regression's site is caught too, naming the segments that moved.
    [nps] = alerts[(alerts.rule_name == "site_nps") & (alerts.status == "open")].itertuples()
    assert nps.site_id == "S1" and json.loads(nps.contributors)[0]["change"] < 0
    # The training lapse on that line shows up before the regression.
    kpis = read_table(settings, "kpi_daily")
    training = kpis[(kpis.kpi == "training_completion") & (kpis.line_id == REGRESSION_LINE)]
    before = training[training.kpi_date.astype(str) < (regression_day - timedelta(days=25)).isoformat()]
    lapse = training[
        (training.kpi_date.astype(str) >= (regression_day - timedelta(days=20)).isoformat())
        & (training.kpi_date.astype(str) < regression_day.isoformat())
    ]
    assert lapse.numerator.sum() / lapse.denominator.sum() < before.numerator.sum() / before.denominator.sum() - 0.2


def test_the_slow_drift_is_caught_by_the_ewma_rule_days_before_the_shewhart_rules(demo_warehouse):
    settings, _ = demo_warehouse
    drift_day = DemoSpec(end_date=DEMO_END).day(DRIFT_START)
    alerts = read_table(settings, "alert").query("line_id == @DRIFT_LINE")
    alerts = alerts.assign(since=pd.to_datetime(alerts.since_date).dt.date)
    # One alert that holds from its first day to the demo's end, once the drift has grown.
    [drift] = alerts[(alerts.rule_name == "line_fraction_defective_drift") & (alerts.status == "open")].itertuples()
    assert drift.since >= drift_day + timedelta(days=7) and drift.days_adverse >= 10
    assert drift.value > drift.limit_value and "EWMA" in drift.message
    # The line's p-chart (rules 1 and 2) on the same series: its trailing baseline follows the drift, so it flags a
    # chance day now and then; any alert of it that held for three days began days after the EWMA's.
    shewhart = alerts[(alerts.rule_name == "line_fraction_defective") & (alerts.since >= drift_day)]
    held = shewhart[shewhart.days_adverse >= 3]
    assert held.empty or held.since.min() >= drift.since + timedelta(days=5)


def test_running_the_same_day_twice_leaves_the_warehouse_unchanged(settings, demo_sources):
    run_chain(settings, run_id="first")
    first = snapshot(settings)
    reports = run_chain(settings, run_id="second")

    assert reports == []  # nothing new since the watermarks: no batch at all
    assert changed_tables(first, snapshot(settings)) == {}


def test_customer_snapshots_match_the_account_dates(demo_warehouse):
    settings, _ = demo_warehouse
    snapshots = read_table(settings, "fact_customer_snapshot")
    accounts = read_table(settings, "dim_customer")
    day = pd.Timestamp(snapshots["snapshot_date"].max())
    acquired, churned = pd.to_datetime(accounts.acquired_on), pd.to_datetime(accounts.churned_on)
    on_day = snapshots[pd.to_datetime(snapshots.snapshot_date) == day]

    assert on_day["is_active"].sum() == ((acquired <= day) & (churned.isna() | (churned > day))).sum()
    assert on_day["churned"].sum() == (churned == day).sum()
    assert on_day["is_new"].sum() == (acquired == day).sum()
    assert snapshots.groupby(["snapshot_date", "customer_id"]).size().max() == 1


def test_the_control_chart_view_shows_the_limits_and_the_flagged_days_the_alert_came_from(demo_warehouse):
    settings, _ = demo_warehouse
    points = read_table(settings, "spc_point")
    chart = points[(points.rule_name == "line_fraction_defective") & (points.line_id == REGRESSION_LINE)]
    [alert] = (
        read_table(settings, "alert")
        .query("rule_name == 'line_fraction_defective' and line_id == @REGRESSION_LINE and status == 'open'")
        .itertuples()
    )
    # The line's earlier, smaller dip was flagged too (resolved alerts of their own): this alert's days begin with it.
    flagged = chart[chart.adverse & (pd.to_datetime(chart.kpi_date) >= pd.Timestamp(alert.since_date))]
    assert pd.Timestamp(flagged.kpi_date.min()).date() == pd.Timestamp(alert.since_date).date()
    assert (flagged.value > flagged.upper_limit).all() and len(flagged) == alert.days_adverse
    assert (chart.lower_limit <= chart.centre_line).all() and (chart.centre_line <= chart.upper_limit).all()
    kpis = read_table(settings, "kpi_daily").query("kpi == 'fraction_defective' and line_id == @REGRESSION_LINE")
    kpis = kpis[kpis.step_id == "ALL"].set_index(pd.to_datetime(kpis[kpis.step_id == "ALL"].kpi_date))
    values = chart.set_index(pd.to_datetime(chart.kpi_date)).value
    assert (values - kpis.loc[values.index, "value"]).abs().max() < 1e-12  # the KPI table's own values
