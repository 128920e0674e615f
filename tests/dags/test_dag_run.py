"""The chain through the real DAG files with ``dag.test()``: the Asset-ordered runs a scheduler would make."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from core.catalog import SOURCES
from tests.conftest import DEMO_END
from tests.helpers import changed_tables, read_table, snapshot

pytestmark = pytest.mark.dags

RUN_AFTER = datetime.combine(DEMO_END + timedelta(days=1), time(0), tzinfo=UTC)  # the nightly run for DEMO_END


def test_the_dags_run_the_chain_as_the_scheduler_would_and_a_rerun_changes_nothing(
    airflow_db, settings, demo_sources, monkeypatch
):
    from orchestration.runner import run_dags

    # Tasks read their configuration from the environment, as they do under a scheduler.
    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)

    _assets_name_another_deployments_data()
    started = datetime.now(UTC)
    states = run_dags(RUN_AFTER)

    assert states == {dag_id: "success" for dag_id in states} and len(states) == len(SOURCES) + 2
    _assert_the_active_assets_name_this_runs_data(settings)
    ledger = read_table(settings, "batch_ledger")
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()
    assert ledger.groupby("dataset")["rows_extracted"].sum().to_dict() == demo_sources
    assert ledger.rows_quarantined.sum() > 0
    assert "S1-L2" in set(read_table(settings, "alert")["line_id"])
    before = snapshot(settings)

    rerun = run_dags(RUN_AFTER)
    ended = datetime.now(UTC)

    assert rerun["qp_validate_load"] == "not triggered" and rerun["qp_kpis"] == "not triggered"
    assert changed_tables(before, snapshot(settings)) == {}
    _assert_a_scheduler_carries_on_from_the_nightly_runs(started, ended)


def _assets_name_another_deployments_data() -> None:
    """Airflow's metadata as a run on another warehouse and data folder left it: each QualityPulse Asset's name is
    active for the URI of that other data (the situation after QP_WAREHOUSE_URL or QP_DATA_DIR change)."""
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from core.catalog import DATASETS
    from orchestration.assets import ALERTS_NAME, FACTS_NAME, KPI_TABLES_NAME

    names = [d.asset_name for d in DATASETS] + [FACTS_NAME, KPI_TABLES_NAME, ALERTS_NAME]
    with create_session() as session:
        session.execute(delete(AssetActive).where(AssetActive.name.in_(names)))
        for name in names:
            stale = AssetModel(name=name, uri=f"file:///elsewhere/{uuid.uuid4().hex}/{name}", group="qualitypulse")
            session.add(stale)
            session.flush()
            session.add(AssetActive.for_asset(stale))


def _assert_the_active_assets_name_this_runs_data(settings) -> None:  # type: ignore[no-untyped-def]
    """Each Asset's name is active for the URI of this run's data: its landing folder, its warehouse's tables (the
    URIs lineage events name them by)."""
    from airflow.models.asset import AssetActive
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from core.catalog import DATASETS
    from orchestration.assets import ALERTS_NAME, FACTS_NAME, KPI_TABLES_NAME
    from pipeline import lineage

    expected = {d.asset_name: lineage.landing(settings, d).uri for d in DATASETS}
    expected[FACTS_NAME] = lineage.warehouse_table(settings, "batch_ledger").uri
    expected[KPI_TABLES_NAME] = lineage.warehouse_table(settings, "kpi_daily").uri
    expected[ALERTS_NAME] = lineage.warehouse_table(settings, "alert").uri
    with create_session() as session:
        query = select(AssetActive.name, AssetActive.uri).where(AssetActive.name.in_(expected))
        active = {name: uri for name, uri in session.execute(query)}
    assert active == expected


def _assert_a_scheduler_carries_on_from_the_nightly_runs(started: datetime, ended: datetime) -> None:
    """The in-process runs are the ones a scheduler would have made: each ingest DAG's is the scheduled run of
    DEMO_END (its run id, logical date and interval), so the scheduler's next run of it is the following night's
    and no run is in its way (a manual run dated at its logical date had it log "run already exists" forever and
    never create it); the Asset-scheduled DAGs' are Asset-triggered runs that took the queued events; every run
    started and ended when it really did."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.timetables.base import TimeRestriction
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    from orchestration.dag_defaults import START_DATE

    day_start, next_night = RUN_AFTER - timedelta(days=1), RUN_AFTER + timedelta(days=1)
    scheduler_dags = DBDagBag()
    with create_session() as session:
        for source in SOURCES:
            dag_id = f"qp_ingest_{source}"
            (run,) = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_after == RUN_AFTER))
            assert (run.run_type, run.run_id) == ("scheduled", f"scheduled__{RUN_AFTER.isoformat()}"), dag_id
            assert (run.logical_date, run.data_interval_start, run.data_interval_end) == (
                day_start,
                day_start,
                RUN_AFTER,
            )
            assert started <= run.start_date < run.end_date <= ended  # real times, not midnight
            dag = scheduler_dags.get_latest_version_of_dag(dag_id, session=session)  # the scheduler's copy
            assert dag is not None
            timetable = dag.timetable
            following = timetable.next_dagrun_info(
                last_automated_data_interval=timetable.run_info_from_dag_run(dag_run=run).data_interval,
                restriction=TimeRestriction(earliest=START_DATE, latest=None, catchup=True),
            )
            assert following is not None
            assert (following.logical_date, following.data_interval.end, following.run_after) == (
                RUN_AFTER,
                next_night,
                next_night,
            )
            assert not session.scalar(  # the scheduler's own check before it creates a run
                select(func.count()).where(DagRun.dag_id == dag_id, DagRun.logical_date == following.logical_date)
            )
        for dag_id in ("qp_validate_load", "qp_kpis"):
            run = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
            ).one()
            assert run.run_type == "asset_triggered" and run.run_id.startswith("asset_triggered__"), dag_id
            assert run.logical_date is None and started <= run.start_date < run.end_date <= ended
        assert not session.scalar(select(func.count()).select_from(AssetDagRunQueue))  # nothing left to trigger


def test_validation_runs_one_mapped_task_per_dataset_dimensions_first(airflow_db, settings, demo_sources, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from orchestration.runner import run_dag
    from pipeline.ingest import ingest_source
    from tests.helpers import PROJECT_ROOT

    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    for source in SOURCES:
        ingest_source(source, RUN_AFTER.replace(tzinfo=None), "landing", settings)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["qp_validate_load"]

    run = run_dag(dag, RUN_AFTER)  # dag.test(), run as the scheduler's Asset-triggered run

    assert run.state == "success"
    mapped = {
        ti.rendered_map_index: ti
        for ti in run.get_task_instances()
        if ti.task_id in ("validate_and_load_dimensions", "validate_and_load_facts")
    }
    assert set(mapped) == set(demo_sources)  # one task per dataset with a waiting batch
    dimensions = [ti for ti in mapped.values() if ti.task_id == "validate_and_load_dimensions"]
    facts = [ti for ti in mapped.values() if ti.task_id == "validate_and_load_facts"]
    assert {ti.rendered_map_index for ti in dimensions} >= {"lines", "defect_codes", "employees"}
    assert {ti.rendered_map_index for ti in facts} >= {"production_runs", "defects", "feedback"}
    assert max(ti.end_date for ti in dimensions) <= min(ti.start_date for ti in facts)
    ledger = read_table(settings, "batch_ledger")
    assert set(ledger.status) == {"loaded"}
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()


def test_an_ordinary_run_completes_what_a_crash_left_landed_claimed_or_unbuilt(
    airflow_db, settings, demo_sources, monkeypatch
):
    from sqlalchemy import text

    from core.engine import engine_for
    from orchestration.runner import run_dags
    from pipeline.ingest import ingest_source

    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    # A run landed every source, then died: one batch mid-load (its claimer gone), the rest never loaded.
    for source in SOURCES:
        ingest_source(source, RUN_AFTER.replace(tzinfo=None), "crashed", settings)
    engine = engine_for(settings.warehouse_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "update batch_ledger set status = 'processing', claimed_by = 'gone-host:1:dead', claimed_at = :t "
                "where dataset = 'defects'"
            ),
            {"t": datetime(2026, 1, 1)},  # long past the claim timeout
        )

    states = run_dags(RUN_AFTER)  # the next ordinary run: its ingest finds nothing new

    assert states["qp_validate_load"] == "success" and states["qp_kpis"] == "success"
    ledger = read_table(settings, "batch_ledger")
    assert set(ledger.status) == {"loaded"} and ledger.kpis_built_at.notna().all()
    assert not read_table(settings, "kpi_daily").empty

    # The KPI build crashed after the loads: the next run builds what is pending, though nothing else is new.
    with engine.begin() as connection:
        connection.execute(text("update batch_ledger set kpis_built_at = null"))
        connection.execute(text("delete from kpi_daily"))
    engine.dispose()
    states = run_dags(RUN_AFTER)
    assert states["qp_kpis"] == "success"
    assert not read_table(settings, "kpi_daily").empty
    assert read_table(settings, "batch_ledger").kpis_built_at.notna().all()
