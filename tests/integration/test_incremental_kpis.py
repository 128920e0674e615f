"""Incremental KPI builds: a late-arriving day recomputes only its own partition, and equals a full rebuild."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from core.catalog import SOURCES
from pipeline.ingest import ingest_source
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from tests.helpers import INTERVAL_END, read_table

pytestmark = pytest.mark.integration

KEY = ["kpi", "kpi_date", "site_id", "line_id", "step_id"]


def _kpis(settings):  # type: ignore[no-untyped-def]
    frame = read_table(settings, "kpi_daily").drop(columns=["pipeline_run_id", "computed_at"])
    frame["kpi_date"] = frame["kpi_date"].astype(str).str[:10]
    return frame.sort_values(KEY).reset_index(drop=True)


def _periods(settings):  # type: ignore[no-untyped-def]
    frame = read_table(settings, "kpi_period").drop(columns=["pipeline_run_id", "computed_at"])
    frame["period_start"] = frame["period_start"].astype(str).str[:10]
    return frame.sort_values(["kpi", "period", "period_start", "site_id", "line_id", "step_id"]).reset_index(drop=True)


def _outcomes(settings):  # type: ignore[no-untyped-def]
    frame = read_table(settings, "training_outcomes").drop(columns=["computed_at"])
    frame["period_start"] = frame["period_start"].astype(str).str[:10]
    return frame.sort_values(["period", "period_start", "line_id"]).reset_index(drop=True)


def test_a_new_day_rebuilds_only_its_partitions_and_matches_a_full_build(settings, demo_sources):
    first_end = datetime(2026, 11, 24)  # the last demo day arrives late, in a second load
    for source in SOURCES:
        ingest_source(source, first_end, "day-1", settings)
    validate_and_load(settings)
    build_kpis("day-1", settings)
    before = read_table(settings, "kpi_daily")

    for source in SOURCES:
        ingest_source(source, INTERVAL_END, "day-2", settings)
    validate_and_load(settings)
    build_kpis("day-2", settings)
    incremental = _kpis(settings)
    after = read_table(settings, "kpi_daily")

    rebuilt = after[after.pipeline_run_id == "day-2"]
    production_days = set(rebuilt[rebuilt.kpi == "fpy"]["kpi_date"].astype(str).str[:10])
    # The new day, and the days whose runs got a late inspection record or a correction in the second load.
    runs, defects = read_table(settings, "fact_production_run"), read_table(settings, "fact_defect")
    late_runs = set(runs.run_id[runs.updated_at >= first_end]) | set(defects.run_id[defects.updated_at >= first_end])
    touched = set(runs.production_date[runs.run_id.isin(late_runs)].astype(str).str[:10])
    assert "2026-11-24" in production_days and production_days == touched  # a few days recomputed, not ninety
    assert len(production_days) <= 4
    assert len(rebuilt) < len(after) / 20
    assert len(after) > len(before)

    periods_incremental = _periods(settings)
    outcomes_incremental = _outcomes(settings)
    build_kpis("full", settings, full=True)
    full = _kpis(settings)
    assert periods_incremental.equals(_periods(settings))
    # Training against outcomes, rebuilt from the changed week and month on (with their trailing correlations).
    assert len(outcomes_incremental) and outcomes_incremental.equals(_outcomes(settings))
    assert incremental[KEY].equals(full[KEY])
    assert (incremental["numerator"] == full["numerator"]).all()
    assert (incremental["denominator"] == full["denominator"]).all()
    assert ((incremental["value"] - full["value"]).abs().fillna(0) < 1e-9).all()
    assert (incremental["value"].isna() == full["value"].isna()).all()


def test_a_build_with_nothing_new_writes_nothing(settings, demo_sources):
    for source in SOURCES:
        ingest_source(source, INTERVAL_END, "run", settings)
    validate_and_load(settings)
    assert build_kpis("run", settings) > 0
    assert build_kpis("again", settings) == 0
    assert set(read_table(settings, "kpi_daily")["pipeline_run_id"]) == {"run"}


def test_weekly_and_monthly_rows_sum_the_daily_counts(demo_warehouse):
    settings, _ = demo_warehouse
    daily = read_table(settings, "kpi_daily")
    periods = read_table(settings, "kpi_period")
    week = periods[
        (periods.kpi == "fpy") & (periods.period == "week") & (periods.line_id == "S1-L2") & (periods.step_id == "ALL")
    ].iloc[-2]
    start = pd.Timestamp(week.period_start)
    days = daily[
        (daily.kpi == "fpy")
        & (daily.line_id == "S1-L2")
        & (daily.step_id == "ALL")
        & (pd.to_datetime(daily.kpi_date) >= start)
        & (pd.to_datetime(daily.kpi_date) < start + pd.Timedelta(days=7))
    ]
    assert week.numerator == days.numerator.sum() and week.denominator == days.denominator.sum()
    assert week.value == pytest.approx(days.numerator.sum() / days.denominator.sum())
    assert week.value != pytest.approx(days.value.mean(), abs=1e-9)  # not an average of daily ratios
    months = periods[(periods.kpi == "nps") & (periods.period == "month") & (periods.grain == "company")]
    for month in months.itertuples():
        in_month = daily[
            (daily.kpi == "nps")
            & (daily.grain == "company")
            & (pd.to_datetime(daily.kpi_date).dt.to_period("M") == pd.Timestamp(month.period_start).to_period("M"))
        ]
        assert month.value == pytest.approx(100 * in_month.numerator.sum() / in_month.denominator.sum())
    sigma = periods[(periods.kpi == "sigma_level") & (periods.period == "month") & (periods.grain == "company")]
    assert sigma.value.between(3, 6).all()


def test_weekly_and_monthly_cycle_time_quantiles_come_from_the_runs(demo_warehouse):
    """The median and p90 of a month are those of the month's runs, not an average of daily medians."""
    settings, _ = demo_warehouse
    periods = read_table(settings, "kpi_period")
    runs = read_table(settings, "fact_production_run")
    runs["minutes"] = (pd.to_datetime(runs.finished_at) - pd.to_datetime(runs.started_at)).dt.total_seconds() / 60
    runs["month"] = pd.to_datetime(runs.production_date).dt.to_period("M")
    for kpi, q in (("cycle_time_median", 0.5), ("cycle_time_p90", 0.9)):
        monthly = periods[(periods.kpi == kpi) & (periods.period == "month") & (periods.line_id == "S1-L2")]
        monthly = monthly[monthly.step_id == "ALL"]
        assert len(monthly) >= 3
        for row in monthly.itertuples():
            month = runs[(runs.line_id == "S1-L2") & (runs.month == pd.Timestamp(row.period_start).to_period("M"))]
            assert row.value == pytest.approx(month.minutes.quantile(q))
    weeks = periods[(periods.kpi == "cycle_time_p90") & (periods.period == "week") & (periods.grain == "company")]
    assert len(weeks) >= 10 and weeks.value.notna().all()
