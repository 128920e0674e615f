"""Silence is an event: a source that delivers nothing past its freshness deadline raises a data-quality alert, the
BI view shows it late, and data that arrives resolves both. Run through the real ingest of the demo sources, with
the runs' own clocks pinned (never today's date)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from core.catalog import SOURCES
from core.engine import engine_for
from demo.source_systems import FEEDBACK_COLUMNS
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions, send_notifications
from pipeline.ingest import IngestResult, ingest_source
from pipeline.load import validate_and_load
from pipeline.summary import render
from tests.conftest import write_demo_sources
from tests.helpers import read_table
from warehouse.bi_views import qualified
from warehouse.freshness import Rhythm, deadline_after, parse_rhythm, watch_plan

GRACE = timedelta(hours=6)


def _view(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """bi.source_freshness (bi_source_freshness on SQLite), as a BI tool reads it, by dataset."""
    engine = engine_for(settings.warehouse_url)
    try:
        frame = pd.read_sql(f"select * from {qualified('source_freshness', engine.dialect.name)}", engine)
    finally:
        engine.dispose()
    for column in ("last_delivery_at", "deadline_at", "evaluated_at"):
        frame[column] = pd.to_datetime(frame[column])
    frame["is_overdue"] = frame["is_overdue"].astype(bool)
    return frame.set_index("dataset")


def _silence_alerts(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    alerts = read_table(settings, "data_quality_alert")
    return alerts[alerts["kind"] == "freshness"].reset_index(drop=True)


def _survey_run(settings, clock: datetime) -> IngestResult:  # type: ignore[no-untyped-def]
    """The survey's ingest run at ``clock`` (its nightly tick, or an event's logical time)."""
    (result,) = ingest_source("survey", clock, f"survey-{clock:%Y%m%dT%H%M}", settings)
    return result


def _assert_ledger_adds_up(settings) -> None:  # type: ignore[no-untyped-def]
    for batch in read_table(settings, "batch_ledger").itertuples():
        assert batch.status in ("loaded", "blocked"), batch
        assert (
            batch.rows_extracted
            == batch.rows_loaded + batch.rows_quarantined + batch.rows_duplicate + batch.rows_deleted
        ), batch


@pytest.mark.unit
@pytest.mark.parametrize(
    ("delivered_at", "rhythm", "deadline"),
    [
        # Friday's data (taken by Saturday's nightly run at 00:00): weekdays are due Monday, late Tuesday 06:00.
        (datetime(2026, 11, 21, 0, 0), "weekdays", datetime(2026, 11, 24, 6, 0)),
        (datetime(2026, 11, 20, 18, 30), "weekdays", datetime(2026, 11, 24, 6, 0)),
        # Daily: Saturday's data is late on Sunday 06:00.
        (datetime(2026, 11, 20, 18, 30), "daily", datetime(2026, 11, 22, 6, 0)),
        # A plant that stops on Sundays: Saturday's data covers the weekend.
        (datetime(2026, 11, 21, 22, 0), "mon-sat", datetime(2026, 11, 24, 6, 0)),
        (datetime(2026, 11, 18, 10, 0), "mon,fri", datetime(2026, 11, 21, 6, 0)),
    ],
)
def test_the_deadline_is_the_grace_after_the_next_due_day(delivered_at, rhythm, deadline):
    parsed = parse_rhythm(rhythm)
    assert parsed is not None and deadline_after(delivered_at, parsed, GRACE) == deadline


@pytest.mark.unit
def test_rhythms_and_the_watch_plan_are_checked_and_dimensions_are_not_watched_by_default():
    assert parse_rhythm("off") is None
    assert parse_rhythm("fri-mon") == Rhythm("fri-mon", frozenset({4, 5, 6, 0}))
    with pytest.raises(ValueError, match="expected daily, weekdays, off"):
        parse_rhythm("workdays")
    with pytest.raises(ValueError, match="surveys: not a source"):
        watch_plan({"surveys": "daily"})
    plan = watch_plan({"production_runs": "mon-sat", "lms": "off", "courses": "weekdays"})
    assert (plan["sites"].watched_as, plan["employees"].watched_as) == ("off", "off")  # master data: no deadline
    assert (plan["courses"].watched_as, plan["training_assignments"].watched_as) == ("dataset", "off")
    assert (plan["production_runs"].watched_as, plan["production_runs"].subject) == ("dataset", "production_runs")
    assert (plan["defects"].watched_as, plan["defects"].subject) == ("source", "qms")
    assert plan["feedback"].rhythm == parse_rhythm("weekdays")


@pytest.mark.integration
def test_a_silent_survey_drop_raises_an_alert_that_resolves_when_a_file_arrives(
    settings, webhook_receiver, monkeypatch
):
    write_demo_sources(settings)  # the demo's last day: Tuesday 2026-11-24
    for source in SOURCES:  # the nightly runs at Wednesday 2026-11-25 00:00, and the load they signal
        ingest_source(source, datetime(2026, 11, 25), "nightly", settings)
    validate_and_load(settings)
    _assert_ledger_adds_up(settings)
    view = _view(settings)
    assert view.loc["feedback", "freshness_state"] == "fresh"
    assert view.loc["feedback", "deadline_at"] == datetime(2026, 11, 26, 6, 0)  # Wednesday's responses, by Thursday
    assert view.loc["production_runs", ["watched_as", "freshness_state"]].tolist() == ["source", "fresh"]
    # Master data last changed months ago: not watched, so it cries no wolf.
    assert view.loc["sites", ["watched_as", "freshness_state"]].tolist() == ["off", "not_watched"]
    assert view.loc["sites", "last_delivery_at"] < datetime(2026, 10, 1)
    assert _silence_alerts(settings).empty

    # The drop folder stays empty. Thursday's nightly run: Wednesday's data isn't late before 06:00.
    assert not _survey_run(settings, datetime(2026, 11, 26)).new
    assert _view(settings).loc["feedback", "freshness_state"] == "fresh" and _silence_alerts(settings).empty

    # Friday's nightly run: past the deadline.
    _survey_run(settings, datetime(2026, 11, 27))
    (alert,) = _silence_alerts(settings).itertuples()
    assert alert.dataset == "survey" and alert.status == "open" and alert.severity == "warning"
    assert alert.message.startswith("no survey data since 2026-11-24 (deadline 2026-11-26 06:00 UTC)")
    assert json.loads(alert.observed_value)["rhythm"] == "weekdays"
    view = _view(settings)
    late = view.loc["feedback"]
    assert (late.freshness_state, late.is_overdue, late.deadline_at) == ("late", True, datetime(2026, 11, 26, 6))
    assert late.evaluated_at == datetime(2026, 11, 27)
    assert not view.drop(index="feedback")["is_overdue"].any()  # only the survey is silent
    assert "Freshness: silent past the deadline: survey (deadline 2026-11-26 06:00 UTC)" in render(settings)

    # The next night it is still the same alert, not a second one; and it reaches the alert channels.
    _survey_run(settings, datetime(2026, 11, 28))
    (alert,) = _silence_alerts(settings).itertuples()
    assert (alert.status, alert.occurrences) == ("open", 1)
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", webhook_receiver.url)
    check_regressions("kpis", settings, configured_channels)
    send_notifications(settings, configured_channels)
    silent = [r["json"] for r in webhook_receiver.requests if "survey" in r["json"]["subject"]]
    assert [n["subject"] for n in silent] == ["Data quality: survey: freshness deadline"]
    assert silent[0]["text"].startswith("no survey data since 2026-11-24")

    # A drop arrives and signals (an event run on Saturday morning): the alert resolves, the view says fresh.
    known = read_table(settings, "fact_feedback").iloc[0]
    rows = [
        [f"R-LATE-{i}", f"2026-11-27T{9 + i:02d}:00:00", known.customer_id, known.site_id, 9, 5, ""] for i in range(3)
    ]
    drop = settings.survey_drop_dir / "feedback_2026-11-27.csv"
    pd.DataFrame(rows, columns=list(FEEDBACK_COLUMNS)).to_csv(drop, index=False)
    drop.with_name(f"{drop.name}.ready").touch()
    arrived = _survey_run(settings, datetime(2026, 11, 28, 10, 0))
    assert arrived.new and arrived.rows == 3
    (alert,) = _silence_alerts(settings).itertuples()
    assert alert.status == "resolved" and alert.resolved_at == datetime(2026, 11, 28, 10, 0)
    fresh = _view(settings).loc["feedback"]
    assert (fresh.freshness_state, fresh.is_overdue, fresh.last_batch_id) == ("fresh", False, arrived.batch_id)
    assert fresh.last_delivery_at == datetime(2026, 11, 28, 10, 0)
    assert fresh.deadline_at == datetime(2026, 12, 1, 6, 0)  # Saturday's delivery: Monday's data by Tuesday
    (report,) = validate_and_load(settings)
    assert (report.status, report.loaded) == ("loaded", 3)
    _assert_ledger_adds_up(settings)
    assert "Freshness: every watched source delivered in time" in render(settings)


@pytest.mark.integration
def test_a_weekend_without_survey_drops_is_no_silence_but_a_monday_without_one_is(settings):
    write_demo_sources(settings, end_date=date(2026, 11, 20))  # the survey's last drop: Friday's
    _survey_run(settings, datetime(2026, 11, 21))  # Saturday's nightly run takes it
    assert len(validate_and_load(settings)) == 1
    _assert_ledger_adds_up(settings)

    # Saturday and Sunday bring nothing, nor does Monday's drop by Tuesday's nightly run: not late yet.
    for clock in (datetime(2026, 11, 22), datetime(2026, 11, 23), datetime(2026, 11, 23, 15), datetime(2026, 11, 24)):
        assert not _survey_run(settings, clock).new
        judged = _view(settings).loc["feedback"]
        assert (judged.freshness_state, judged.evaluated_at) == ("fresh", clock)
        assert judged.deadline_at == datetime(2026, 11, 24, 6, 0)
    assert _silence_alerts(settings).empty

    # Tuesday noon (an event run): Monday's responses never came.
    _survey_run(settings, datetime(2026, 11, 24, 12))
    (alert,) = _silence_alerts(settings).itertuples()
    assert alert.message.startswith("no survey data since 2026-11-20 (deadline 2026-11-24 06:00 UTC)")
    assert _view(settings).loc["feedback", "freshness_state"] == "late"

    # A backfill's older clock leaves the judgement of a later run alone.
    _survey_run(settings, datetime(2026, 11, 22))
    assert _view(settings).loc["feedback", "evaluated_at"] == datetime(2026, 11, 24, 12)


@pytest.mark.integration
def test_a_source_configured_daily_is_late_on_a_silent_weekend_and_one_never_delivered_counts_from_the_first_check(
    settings,
):
    daily = settings.model_copy(update={"freshness": {"survey": "daily", "lms": "weekdays"}})
    write_demo_sources(daily, end_date=date(2026, 11, 20))
    _survey_run(daily, datetime(2026, 11, 21))
    _survey_run(daily, datetime(2026, 11, 22, 12))  # Saturday's responses were due Sunday 06:00
    (alert,) = _silence_alerts(daily).itertuples()
    assert alert.message.startswith("no survey data since 2026-11-20 (deadline 2026-11-22 06:00 UTC)")

    # The LMS answers nothing at all (its API holds no records): counted from the first run that watched it.
    for name in ("training_assignments", "employees", "courses", "role_requirements"):
        (daily.lms_store_dir / f"{name}.json").write_text(json.dumps({"records": []}))
    ingest_source("lms", datetime(2026, 11, 23), "lms", daily)
    assert _view(daily).loc["training_assignments", "freshness_state"] == "never_delivered"
    assert set(_silence_alerts(daily).dataset) == {"survey"}
    ingest_source("lms", datetime(2026, 11, 25, 7), "lms", daily)  # Monday's data was due Tuesday 06:00
    lms = _silence_alerts(daily).set_index("dataset").loc["lms"]
    assert lms.message.startswith(
        "no lms data delivered since freshness checks began on 2026-11-23 00:00 UTC (deadline 2026-11-24 06:00 UTC)"
    )
    assert _view(daily).loc["training_assignments", ["freshness_state", "is_overdue"]].tolist() == [
        "never_delivered",
        True,
    ]
