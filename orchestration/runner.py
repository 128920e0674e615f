"""Run the pipeline's real Airflow DAGs in-process, in Asset order, with ``dag.test()``.

This is what ``make run`` uses: the same DAG files the scheduler runs, without a scheduler. Asset-triggered
DAGs don't fire under ``dag.test()``, so the runner plays the scheduler's part: it runs the ingest DAGs, then
each Asset-scheduled DAG whose schedule condition is met by the Assets that this round's successful tasks
updated (a skipped task updates nothing).

It plays it with the scheduler's conventions, so a scheduler started later (``make airflow``) carries on from
these runs: an ingest DAG's run is the scheduled run of the interval it covers (its run id, logical date and data
interval as the timetable gives them, so the next nightly run is the following interval), an Asset-scheduled
DAG's run is an Asset-triggered run that consumes the queued Asset events, and each run starts and ends when it
really does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.catalog import SOURCES
from core.progress import OnStep, Step

log = logging.getLogger(__name__)

DAG_ORDER = (*(f"qp_ingest_{source}" for source in SOURCES), "qp_validate_load", "qp_kpis")


class DagRunFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class PlannedRun:
    """The run the scheduler would create: its type, id, logical date, data interval and due time."""

    run_type: Any  # airflow.utils.types.DagRunType (Airflow is imported only when a run is planned)
    run_id: str
    logical_date: datetime | None
    data_interval: tuple[datetime, datetime] | None
    run_after: datetime


def run_dags(
    run_after: datetime,
    dags_folder: Path | None = None,
    on_step: OnStep | None = None,
    dag_ids: Sequence[str] = DAG_ORDER,
) -> dict[str, str]:
    """Run each DAG once as the scheduler would at ``run_after``; returns the final state per DAG, raises on failure.

    An ingest DAG's run is its scheduled run due at ``run_after``: the nightly run due at midnight covers the
    previous day. ``on_step`` hears of each DAG as its run ends (its state and how long it took). ``dag_ids`` (in
    ``DAG_ORDER``'s order) runs one chain only, say one source's ingest and the DAGs its Assets trigger.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetOrTimeSchedule

    bag = DagBag(dag_folder=str(dags_folder or configured_dags_folder()))
    if bag.import_errors:
        raise DagRunFailed(f"DAG import errors: {bag.import_errors}")
    states: dict[str, str] = {}
    updated: set[str] = set()
    order = [dag_id for dag_id in DAG_ORDER if dag_id in dag_ids]
    for done, dag_id in enumerate(order, start=1):
        dag = bag.dags[dag_id]
        condition = dag.timetable.asset_condition
        # Ingest DAGs run nightly *or* on their source's signal: as the nightly run, they always run here.
        only_on_assets = _is_asset_condition(condition) and not isinstance(dag.timetable, AssetOrTimeSchedule)
        if only_on_assets and not condition_met(condition, updated):
            states[dag_id] = "not triggered"
            if on_step:
                on_step(Step(done, len(order), dag_id, states[dag_id]))
            continue
        started = time.monotonic()
        run = run_dag(dag, run_after)
        states[dag_id] = str(run.state)
        if on_step:
            on_step(Step(done, len(order), dag_id, states[dag_id], time.monotonic() - started))
        if run.state != "success":
            raise DagRunFailed(f"{dag_id} ended {run.state}; see the task log above")
        for ti in run.get_task_instances():
            if ti.state == "success":
                updated.update(getattr(o, "name", "") for o in dag.get_task(ti.task_id).outlets)
    return states


def run_dag(dag: Any, run_after: datetime) -> Any:
    """Run ``dag`` once with ``dag.test()`` as the scheduler would at ``run_after``; returns the DagRun.

    The run is the one the scheduler would create (``planned_run``), of the DAG as it is parsed now: the Assets its
    tasks write take their current URIs (the data folder and warehouse of this environment) first.
    """
    from airflow.configuration import conf

    # Airflow rewrites a DAG's stored copy at most every min_serialized_dag_update_interval (30 s), and the in-process
    # execution API serves its cached copy as long: a run right after one under other settings (another warehouse,
    # another data folder) would check its tasks' Assets against the old URIs. Each run here is of the DAG as parsed.
    conf.set("core", "min_serialized_dag_update_interval", "0")
    planned = planned_run(dag, run_after)
    # A deadline counts from when a run is queued, and these runs never are: none applies (Airflow would skip it
    # too). Left on, dag.test() of Airflow 3.3.2 fails once such a run succeeds: DagRun.update_state looks the
    # DeadlineAlerts up by the ids the DAG processor gives them, which dag.test's own copy of the DAG lacks.
    dag.deadline = None
    with _dag_test_creating(planned):
        # dag.test clears the task instances of earlier runs at the logical date it is given: an
        # Asset-triggered run has none, so it is given the run's own due time, which no earlier run has.
        return dag.test(run_after=planned.run_after, logical_date=planned.logical_date or planned.run_after)


def configured_dags_folder() -> Path:
    """Airflow's DAG folder (``AIRFLOW__CORE__DAGS_FOLDER``, else ``$AIRFLOW_HOME/dags``): where the scheduler looks."""
    from airflow.configuration import conf

    return Path(conf.get_mandatory_value("core", "dags_folder")).expanduser()


def planned_run(dag: Any, run_after: datetime) -> PlannedRun:
    """The run the scheduler would create for ``dag`` at ``run_after``, by the DAG's own timetable.

    A time-scheduled DAG: the scheduled run of the last complete interval before ``run_after``. An Asset-scheduled
    DAG: an Asset-triggered run, due now (it runs on the events just emitted).
    """
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DagRunInfo
    from airflow.utils.types import DagRunType

    timetable = coerce_to_core_timetable(dag.timetable)
    if timetable.periodic:
        interval = timetable.infer_manual_data_interval(run_after=timezone.coerce_datetime(run_after))
        info = DagRunInfo.interval(start=interval.start, end=interval.end)
        run_id = timetable.generate_run_id(
            run_type=DagRunType.SCHEDULED, run_after=info.run_after, data_interval=info.data_interval
        )
        return PlannedRun(DagRunType.SCHEDULED, run_id, info.logical_date, tuple(interval), info.run_after)
    now = timezone.utcnow()
    run_id = DagRun.generate_run_id(run_type=DagRunType.ASSET_TRIGGERED, logical_date=None, run_after=now)
    return PlannedRun(DagRunType.ASSET_TRIGGERED, run_id, None, None, now)


@contextmanager
def _dag_test_creating(planned: PlannedRun) -> Iterator[None]:
    """Have ``dag.test()`` create ``planned`` instead of its own manual run, starting now.

    ``dag.test()`` always makes a manual run dated at its logical date, started at that date: a scheduler later
    finds a manual run where its next scheduled run should be, logs "run already exists" over and over and never
    creates it, and the run's duration is counted from midnight. ``dag.test()`` creates its run through
    ``airflow.models.dagrun.get_or_create_dagrun``; for the duration, that creates the scheduler's run instead, and
    then does what the scheduler does on creating one (the DAG's next run info, or the Asset queue consumed).
    """
    from unittest import mock

    from airflow.models import dagrun as dagrun_module

    def create_planned_run(
        *, dag: Any, session: Any, conf: Any, triggered_by: Any, triggering_user_name: Any, **_manual: Any
    ) -> Any:
        from airflow.models.asset import AssetDagRunQueue
        from airflow.models.dag import DagModel
        from airflow.sdk import DagRunState, timezone
        from airflow.utils.types import DagRunType
        from sqlalchemy import delete, or_, select

        DagRun = dagrun_module.DagRun
        same = DagRun.run_id == planned.run_id
        if planned.logical_date is not None:
            same = or_(same, DagRun.logical_date == planned.logical_date)
        for earlier in session.scalars(select(DagRun).where(DagRun.dag_id == dag.dag_id, same)):
            session.delete(earlier)  # a re-run of the same interval replaces it, as dag.test's own runs do
        session.commit()
        run = dag.create_dagrun(
            run_id=planned.run_id,
            logical_date=planned.logical_date,
            data_interval=planned.data_interval,
            run_after=planned.run_after,
            conf=conf,
            run_type=planned.run_type,
            state=DagRunState.RUNNING,
            triggered_by=triggered_by,
            triggering_user_name=triggering_user_name,
            start_date=timezone.utcnow(),
            session=session,
        )
        # dag.test has just written the DAG files' Assets: hand each name over to its current URI, as the scheduler
        # does in its orphanage pass, or a task writing an Asset whose data moved (another warehouse or data
        # folder) fails on an inactive Asset.
        _update_asset_orphanage(session)
        if planned.run_type == DagRunType.SCHEDULED:
            dag_model = session.get(DagModel, dag.dag_id)
            dag_model.calculate_dagrun_date_fields(dag=dag, reference_run=run)
        else:
            session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag.dag_id))
        session.commit()
        log.info("Created %s run %s of %s", planned.run_type.value, planned.run_id, dag.dag_id)
        return run

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", create_planned_run):
        yield


def _update_asset_orphanage(session: Any) -> None:
    """The scheduler's orphanage pass: Assets no DAG references lose their active name, referenced ones take it.

    An Asset's name is active for one URI at a time; when the DAG files name it with another URI (the settings
    moved the data), only this pass moves it over. ``make run`` and the tests have no scheduler, so the runner
    runs Airflow's own pass (its steps are static methods) before each run.
    """
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    SchedulerJobRunner._update_asset_orphanage(SchedulerJobRunner, session=session)  # type: ignore[arg-type]
    session.flush()


def _is_asset_condition(condition: Any) -> bool:
    return hasattr(condition, "objects") or hasattr(condition, "name")


def condition_met(condition: Any, updated: set[str]) -> bool:
    """Evaluate an Asset schedule (an Asset, or nested AssetAny / AssetAll) against updated Asset names."""
    from airflow.sdk import AssetAll

    if hasattr(condition, "objects"):
        verdicts = [condition_met(c, updated) for c in condition.objects]
        return all(verdicts) if isinstance(condition, AssetAll) else any(verdicts)
    return getattr(condition, "name", None) in updated
