"""
### QualityPulse ingest: one DAG per source system

Nightly (``QP_INGEST_SCHEDULE``, default midnight UTC, covering the previous day) and whenever the source
signals new data (its ``qualitypulse.signal.<source>`` Asset: a ready marker, a queue message, or an Asset event
posted to the REST API), each source's datasets are extracted incrementally, everything new since the dataset's
watermark up to the end of the run's data interval (an event-triggered run: its logical time), and landed as an
immutable Parquet batch with a manifest. A dataset with new data emits its raw Asset, which schedules validation
and loading. A run with nothing new skips its tasks and emits nothing. Events are hints: a lost one only delays
data to the next event or the nightly run.

A backfill run (``airflow backfill create --dag-id qp_ingest_qms --from-date ... --to-date ...``) re-extracts
the changes of its own data interval instead, and leaves the watermark alone: rows the warehouse holds load as
unchanged duplicates, and a second backfill of the same days changes nothing.
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, dag, get_current_context, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from core.catalog import SOURCES, datasets_of
from core.settings import get_settings
from orchestration.assets import raw_asset
from orchestration.dag_defaults import DEFAULT_ARGS, START_DATE, deadline_alert
from orchestration.events import signal_asset

SCHEDULE = os.environ.get("QP_INGEST_SCHEDULE", "0 0 * * *")


def _ingest_task(dataset_name: str, asset):  # type: ignore[no-untyped-def]
    @task(task_id=f"land_{dataset_name}", outlets=[asset])
    def land() -> dict[str, object]:
        from dataclasses import asdict

        from airflow.sdk.exceptions import AirflowSkipException

        from orchestration.connections import with_airflow_connections
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.ingest import ingest_run_interval
        from pipeline.load import work_waiting

        context = get_current_context()
        dag_run = context["dag_run"]
        interval_start = context.get("data_interval_start")
        interval_end = context.get("data_interval_end") or dag_run.run_after
        settings = with_airflow_connections(get_settings())
        report_lineage(lineage.of_ingest(settings, dataset_name))
        result = ingest_run_interval(
            dataset_name,
            interval_start.replace(tzinfo=None) if interval_start else None,
            interval_end.replace(tzinfo=None),
            getattr(dag_run.run_type, "value", str(dag_run.run_type)),  # an enum: "backfill", "scheduled", ...
            context["run_id"],
            settings,
        )
        if not result.new and not work_waiting(dataset_name, settings):
            raise AirflowSkipException(f"{dataset_name}: no new batch")
        return asdict(result)

    return land()


def _ingest_dag(source: str) -> None:
    # The schedule's watchers, the Assets' URIs and the deadline are built while parsing: from the environment only.
    settings = get_settings()

    @dag(
        dag_id=f"qp_ingest_{source}",
        schedule=AssetOrTimeSchedule(
            timetable=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
            assets=signal_asset(settings, source),
        ),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # runs share the source's watermark
        default_args=DEFAULT_ARGS,
        deadline=deadline_alert(settings.ingest_deadline_minutes),  # not done this long after queued: notify
        tags=["qualitypulse", "ingest", source],
        doc_md=__doc__,
    )
    def ingest() -> None:
        for dataset in datasets_of(source):
            _ingest_task(dataset.name, raw_asset(dataset, settings))

    ingest()


for _source in SOURCES:
    _ingest_dag(_source)
