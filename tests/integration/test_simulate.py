"""`simulate` appends a day to every demo source, with the updates and late rows real sources produce, and the
incremental chain takes exactly that day: nothing lost, nothing twice."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from demo.simulate import simulate_day
from demo.source_systems import DemoLocations, DemoSpec
from tests.conftest import DEMO_END
from tests.helpers import read_table, run_chain

pytestmark = pytest.mark.integration

NEW_DAY = DEMO_END + timedelta(days=1)
AFTER_THE_DAY = datetime.combine(NEW_DAY + timedelta(days=1), time(6))  # when `simulate` writes a day that is over


def _where(settings) -> DemoLocations:  # type: ignore[no-untyped-def]
    return DemoLocations(settings.qms_url, settings.survey_drop_dir, settings.lms_store_dir, settings.finance_url)


def test_a_simulated_day_flows_through_the_incremental_chain(settings, demo_sources):
    run_chain(settings)
    runs_before = read_table(settings, "fact_production_run").set_index("run_id")

    spec, counts = simulate_day(DemoSpec(end_date=DEMO_END), _where(settings), AFTER_THE_DAY)
    reports = run_chain(
        settings, "simulated", interval_end=datetime.combine(NEW_DAY + timedelta(days=1), datetime.min.time())
    )

    assert spec.end_date == NEW_DAY and spec.start_date == DemoSpec(end_date=DEMO_END).start_date
    assert all(r.extracted == r.loaded + r.quarantined + r.duplicates for r in reports)
    extracted = {r.dataset: r.extracted for r in reports}
    for dataset in ("production_runs", "defects", "feedback", "training_assignments", "cost_ledger"):
        assert extracted.get(dataset) == counts[dataset], dataset  # exactly the day's rows and changes
    runs = read_table(settings, "fact_production_run").set_index("run_id")
    assert str(runs["production_date"].max())[:10] == NEW_DAY.isoformat()
    corrected = runs.index[
        runs.index.isin(runs_before.index)
        & (runs["units_reworked"] != runs_before["units_reworked"].reindex(runs.index))
    ]
    assert len(corrected) == 1 and str(runs.loc[corrected[0], "production_date"])[:10] == DEMO_END.isoformat()
    defects = read_table(settings, "fact_defect")
    assert defects["defect_id"].str.contains(f"-LATE-{NEW_DAY:%Y%m%d}").sum() == 1
    kpis = read_table(settings, "kpi_daily")
    fpy = kpis[(kpis.kpi == "fpy") & (kpis.grain == "company")]
    if NEW_DAY.weekday() != 6:  # no production on Sundays
        assert NEW_DAY.isoformat() in set(fpy.kpi_date.astype(str).str[:10])


def test_an_event_right_after_simulating_the_day_in_progress_brings_all_of_it_in(settings, demo_sources):
    """`make run`, then `qp simulate` writes today, which isn't over: an event-triggered ingest right after, whose
    interval ends at the event, takes the whole day from the databases, the API and the drop folder."""
    from core.catalog import datasets_of
    from pipeline.ingest import ingest_run_interval
    from pipeline.load import validate_and_load

    run_chain(settings)  # last night's run, up to the start of NEW_DAY
    written_at = datetime.combine(NEW_DAY, time(10, 30))
    _, counts = simulate_day(DemoSpec(end_date=DEMO_END), _where(settings), written_at)

    event = written_at + timedelta(seconds=20)  # an Asset-triggered run has no data interval: it ends at its event
    extracted = {
        dataset.name: ingest_run_interval(dataset.name, None, event, "asset_triggered", "event", settings).rows
        for source in ("qms", "finance", "lms", "survey")
        for dataset in datasets_of(source)
    }

    assert {name: extracted[name] for name in counts} == counts
    assert counts["production_runs"] > 1 and counts["training_assignments"] > 0 and counts["cost_ledger"] > 0
    reports = validate_and_load(settings)
    assert all(r.extracted == r.loaded + r.quarantined + r.duplicates for r in reports)
    quarantine = read_table(settings, "quarantine")
    assert not quarantine.failed_rules.str.contains("later than the run").any()  # no event date beyond its bound
    runs = read_table(settings, "fact_production_run")
    assert str(runs["production_date"].max())[:10] == NEW_DAY.isoformat()


def test_a_simulated_day_is_reproducible(tmp_path):
    def simulate(folder):  # type: ignore[no-untyped-def]
        from demo.source_systems import generate

        where = DemoLocations(f"sqlite:///{folder / 'qms.db'}", folder / "drop", folder / "lms")
        generate(DemoSpec(end_date=date(2026, 3, 31), days=30), where)
        return simulate_day(DemoSpec(end_date=date(2026, 3, 31), days=30), where, datetime(2026, 4, 2))[1]

    first, second = simulate(tmp_path / "a"), simulate(tmp_path / "b")
    assert first == second and first["production_runs"] == 6 * 2 * 4 + 1  # 6 lines, 2 shifts, 4 steps; a correction
    drops = sorted((tmp_path / "a" / "drop").glob("feedback_2026-04-01.csv*"))
    assert [p.name for p in drops] == ["feedback_2026-04-01.csv", "feedback_2026-04-01.csv.ready"]
    assert pd.read_csv(drops[0]).shape[0] == first["feedback"]


def test_a_simulated_sunday_has_no_production_and_still_brings_the_other_sources(tmp_path):
    from demo.source_systems import generate

    saturday = date(2026, 11, 28)
    where = DemoLocations(f"sqlite:///{tmp_path / 'qms.db'}", tmp_path / "drop", tmp_path / "lms")
    generate(DemoSpec(end_date=saturday, days=30), where)
    spec, counts = simulate_day(DemoSpec(end_date=saturday, days=30), where, datetime(2026, 11, 30))

    assert spec.end_date.weekday() == 6
    assert counts["production_runs"] == 1  # no runs on Sundays; Saturday's run corrected
    assert counts["feedback"] > 0 and (tmp_path / "drop" / "feedback_2026-11-29.csv").exists()


def test_a_lost_event_loses_no_data_the_next_run_takes_everything_since_the_watermark(settings, demo_sources):
    """Day one's "new data" event never arrives (Redis pub/sub drops what nobody hears); day two's nightly run
    takes both days, and the warehouse holds every source row in its latest version."""
    from sqlalchemy import text

    from core.engine import engine_for

    run_chain(settings)
    spec, _ = simulate_day(DemoSpec(end_date=DEMO_END), _where(settings), AFTER_THE_DAY)  # its event is lost: no run
    simulate_day(spec, _where(settings), AFTER_THE_DAY + timedelta(days=1))
    reports = run_chain(
        settings, "nightly", interval_end=datetime.combine(NEW_DAY + timedelta(days=2), datetime.min.time())
    )

    assert all(r.extracted == r.loaded + r.quarantined + r.duplicates for r in reports)
    qms = engine_for(settings.qms_url)
    with qms.connect() as connection:
        source = pd.read_sql(text("select run_id, updated_at from production_runs"), connection)
    qms.dispose()
    warehouse = read_table(settings, "fact_production_run")
    quarantined = set(read_table(settings, "quarantine").record_key.dropna())
    missing = set(source.run_id) - set(warehouse.run_id) - quarantined
    assert missing == set()
    for day in (NEW_DAY, NEW_DAY + timedelta(days=1)):
        assert (pd.to_datetime(warehouse.production_date).dt.date == day).sum() > 0, day
    latest = pd.to_datetime(source.updated_at).groupby(source.run_id).max()  # the demo double-posts some runs
    loaded = warehouse.set_index("run_id").updated_at.pipe(pd.to_datetime)
    assert (loaded == latest.reindex(loaded.index)).all()  # every run in its latest version
