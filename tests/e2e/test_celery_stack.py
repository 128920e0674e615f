"""End to end on the production topology: docker-compose.yml's Airflow services run natively (no Docker engine).

PostgreSQL holds Airflow's metadata and the warehouse (separate databases), Redis carries Celery's queue and the
source events, and the compose file's services run as local processes (orchestration/local_stack.py): API server,
scheduler, DAG processor, triggerer and **two Celery workers**, each stamping its task instances with its own
name. One stack serves the tests of this module, in order (each picks up where the one before left the warehouse):

1. the nightly runs load every source, their mapped load tasks spread over both workers, and alerts come out;
2. a new day arrives, a ready marker sets it off, and the worker running a load is killed with SIGKILL in the
   middle of it: Airflow notices the missing heartbeat, the task's retry runs on the other worker, and nothing is
   lost or doubled;
3. a message on Redis brings the finance data in;
4. two days of QMS history backfilled twice with ``airflow backfill create`` leave the warehouse as it was.

Slow (several minutes): marked ``slow``; CI runs it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import text

from cli.main import yesterday
from core.catalog import DATASETS, SOURCES
from core.engine import engine_for
from core.settings import Settings
from demo.services import demo_lms_api
from demo.simulate import simulate_day
from demo.source_systems import DemoLocations, DemoSpec
from orchestration import events
from orchestration.local_stack import LocalStack, free_port, local_host_settings
from tests.conftest import fresh_warehouse, migrated_settings, write_demo_sources
from tests.helpers import AUDIT_COLUMNS, PROJECT_ROOT, changed_tables, read_table, snapshot
from tests.receivers import HttpInbox, http_receiver
from warehouse.schema import metadata

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("airflow-stack")]

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
BIN = Path(sys.executable).parent


@dataclass
class Running:
    stack: LocalStack
    settings: Settings
    spec: DemoSpec
    nightly_end: date  # the last day of the sources the nightly runs loaded (read off the clock once, at start)
    hook: HttpInbox  # the alert channels' webhook: alerts, failed tasks and late runs arrive here

    def airflow_db(self, query: str, **params: Any) -> list[Any]:
        """Rows of Airflow's own metadata: runs, task instances (with the worker that ran them), the Asset queue."""
        url = self.stack.host_settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        engine = engine_for(url.replace("postgresql+psycopg://", "postgresql://", 1))
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(query), params))
        finally:
            engine.dispose()

    def settled(self) -> bool:
        """No run queued or running, no Asset-triggered run waiting, no backfill open, no batch waiting to load."""
        busy = self.airflow_db("select count(*) from dag_run where state in ('queued', 'running')")[0][0]
        waiting = self.airflow_db("select count(*) from asset_dag_run_queue")[0][0]
        backfilling = self.airflow_db("select count(*) from backfill where completed_at is null")[0][0]
        unloaded = read_table(self.settings, "batch_ledger").status.isin(["landed", "processing"]).any()
        return (busy, waiting, backfilling) == (0, 0, 0) and not unloaded

    def loaded(self, source: str, since: datetime | None = None) -> bool:
        ledger = read_table(self.settings, "batch_ledger")
        mine = ledger[(ledger.source == source) & (ledger.status == "loaded")]
        if since is not None:
            mine = mine[mine.landed_at >= since.replace(tzinfo=None)]
        return not mine.empty


# Longer than the module takes (8 minutes in CI; 14.6 when every process still compiled its imports).
_CLEAR_OF_MIDNIGHT = timedelta(minutes=25)


def _wait_before_start(now: datetime, margin: timedelta = _CLEAR_OF_MIDNIGHT) -> float:
    """Seconds to wait before the stack starts. Its nightly schedule fires at 00:00 UTC and its sources end on the
    day before the clock's: a module running across midnight would get a second night's run, of a day its sources
    don't have, in the middle of its checks. So where midnight is less than ``margin`` away, it starts after it."""
    midnight = datetime.combine(now.date() + timedelta(days=1), clock_time(), tzinfo=UTC)
    return (midnight - now).total_seconds() + 5 if midnight - now < margin else 0.0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    time.sleep(_wait_before_start(datetime.now(UTC)))
    tmp = tmp_path_factory.mktemp("stack")
    with fresh_warehouse("postgresql", tmp) as warehouse_url, fresh_warehouse("postgresql", tmp) as metadata_url:
        with demo_lms_api(migrated_settings(tmp, warehouse_url)) as settings, http_receiver() as hook:
            # The scheduler runs on the wall clock: the sources end yesterday, as `make run`'s demo does, or the
            # batches' freshness checks would block them.
            spec = DemoSpec(end_date=yesterday())
            write_demo_sources(settings, end_date=spec.end_date)
            run = uuid.uuid4().hex[:8]
            host = {
                # What the containers' names and the .env file give the compose stack; this test's own queue.
                **local_host_settings(metadata_url, free_port(), queue=f"qp-e2e-{run}"),
                "QP_DATA_DIR": str(settings.data_dir),
                "QP_SIGNAL_DIR": str(settings.signal_dir),
                "QP_WAREHOUSE_URL": settings.warehouse_url,
                "QP_INGEST_SCHEDULE": "0 0 * * *",
                "QP_LMS_API_URL": settings.lms_api_url,
                "QP_LMS_API_TOKEN": settings.lms_api_token.get_secret_value(),
                # This test's own event channels on the machine's Redis; the DAGs from the repository.
                "QP_EVENT_CHANNEL_PREFIX": f"qp-e2e-{run}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                # Quicker than production, so the test takes minutes: parsing, marker polls, the heartbeat timeout
                # that declares a killed worker's task lost, and the retry's wait.
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "QP_SIGNAL_POKE_SECONDS": "1",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "QP_TASK_RETRY_DELAY_SECONDS": "5",
                # The webhook channel, and a KPI deadline of 6 s that every KPI run misses: the scheduler marks it
                # missed and the triggerer sends the notice, as in production after an hour.
                "AIRFLOW_CONN_QP_ALERT_WEBHOOK": hook.url,
                "QP_KPIS_DEADLINE_MINUTES": "0.1",
            }
            with LocalStack(COMPOSE, tmp / "airflow", host) as stack:
                stack.wait("every component to be healthy and both workers ready", stack.ready, 300)
                prefixed = settings.model_copy(update={"event_channel_prefix": f"qp-e2e-{run}"})
                yield Running(stack, prefixed, spec, spec.end_date, hook)


def _load_hosts(running: Running) -> dict[str, int]:
    """How many mapped load tasks each worker ran to success, over every try Airflow recorded."""
    rows = running.airflow_db(
        "select hostname, count(*) from ("
        " select hostname, task_id, state from task_instance where dag_id = 'qp_validate_load'"
        " union all select hostname, task_id, state from task_instance_history where dag_id = 'qp_validate_load'"
        ") tries where task_id like 'validate_and_load_%' and state = 'success' group by hostname"
    )
    return {host: count for host, count in rows}


def _accounted(settings: Settings) -> None:
    """Every batch adds up, and no fact or dimension holds a key twice."""
    ledger = read_table(settings, "batch_ledger")
    accounted = ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate + ledger.rows_deleted
    assert (accounted == ledger.rows_extracted).all()
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            for dataset in DATASETS:
                key = ", ".join(dataset.key)
                rows, keys = connection.execute(
                    text(f"select count(*), count(distinct ({key})) from {dataset.fact_table}")
                ).one()
                assert rows == keys, f"{dataset.fact_table} holds a key twice"
    finally:
        engine.dispose()


def test_the_nightly_runs_load_every_source_on_both_workers(running):
    stack, settings = running.stack, running.settings
    stack.wait("the nightly runs to load every source", lambda: all(running.loaded(s) for s in SOURCES), 420)
    stack.wait("the chain to settle after the nightly runs", running.settled, 420)
    assert not read_table(settings, "kpi_daily").query("kpi == 'fpy'").empty
    assert not read_table(settings, "alert").empty  # the demo's regressions reach the alerts table
    hosts = _load_hosts(running)
    assert set(hosts) == set(stack.worker_names), f"mapped loads per worker: {hosts}"
    _accounted(settings)

    def kinds() -> set[str]:
        return {request["json"].get("kind") for request in running.hook.requests}

    assert "kpi_incident" in kinds()  # the alerts reached the owners' webhook
    # The KPI runs overran their 6-second deadline: Airflow's DeadlineAlert fired and the triggerer told the channel.
    stack.wait("the missed KPI deadline's notice", lambda: "deadline_missed" in kinds(), 120)
    late = next(r["json"] for r in running.hook.requests if r["json"].get("kind") == "deadline_missed")
    assert late["facts"]["DAG"] == "qp_kpis"


def test_a_worker_killed_mid_load_is_recovered_by_the_retry_on_the_other(running):
    stack, settings = running.stack, running.settings
    running.spec, _ = simulate_day(
        running.spec, DemoLocations.of(settings), written_at=datetime.now(UTC).replace(tzinfo=None)
    )
    started = datetime.now(UTC)
    marker = events.ready_marker(settings, "qms")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()

    victim: list[Any] = []

    def a_load_is_running() -> bool:
        rows = running.airflow_db(
            "select dag_id, run_id, task_id, map_index, hostname from task_instance where dag_id = 'qp_validate_load'"
            " and task_id like 'validate_and_load_%' and state = 'running'"
            " and start_date < now() - interval '3 seconds'"
        )
        victim.extend(rows[:1])
        return bool(rows)

    stack.wait("a load task to be running on a worker", a_load_is_running, 300, poll=0.5)
    dag_id, run_id, task_id, map_index, worker = victim[0]
    assert worker in stack.worker_names
    stack.kill(worker, signal.SIGKILL)

    stack.wait("the lost task's retry and the chain after it", running.settled, 420)
    assert marker.exists() is False  # the watcher took it
    state, try_number, host = running.airflow_db(
        "select state, try_number, hostname from task_instance"
        " where dag_id = :dag and run_id = :run and task_id = :task and map_index = :index",
        dag=dag_id,
        run=run_id,
        task=task_id,
        index=map_index,
    )[0]
    survivor = next(name for name in stack.worker_names if name != worker)
    assert (state, host) == ("success", survivor) and try_number >= 2
    assert running.loaded("qms", since=started)
    _accounted(settings)
    # The same day's QMS batches, loaded once: a second delivery of the same day would be counted as duplicates.
    ledger = read_table(settings, "batch_ledger")
    new = ledger[(ledger.source == "qms") & (ledger.landed_at >= started.replace(tzinfo=None))]
    assert set(new.status) == {"loaded"} and (new.rows_duplicate == 0).all()

    stack.start(worker)  # back to two workers for the tests after this one
    stack.wait("the restarted worker", stack.ready, 120)


def test_a_redis_message_brings_the_finance_data_in(running):
    stack, settings = running.stack, running.settings
    started = datetime.now(UTC)
    publisher = redis.Redis.from_url(stack.host_settings["AIRFLOW_CONN_QP_EVENTS"])

    def published_and_loaded() -> bool:
        # Pub/sub keeps nothing for a listener that isn't subscribed: a source repeats until it sees its data.
        publisher.publish(events.channel(settings, "finance"), '{"note": "ledger closed"}')
        return running.loaded("finance", since=started)

    try:
        stack.wait("the finance data to load after a Redis message", published_and_loaded, 300)
    finally:
        publisher.close()
    stack.wait("the chain to settle", running.settled, 300)
    _accounted(settings)


def _warehouse(settings: Settings) -> dict[str, list[tuple]]:
    """The warehouse's snapshot without the late-run notices: every KPI run here misses its 6-second deadline, and
    the triggerer's notice of it is written whenever the scheduler gets to it, also during a later test."""
    taken = snapshot(settings)
    kind = [c for c in metadata.tables["notification"].columns.keys() if c not in AUDIT_COLUMNS].index("alert_kind")
    taken["notification"] = [row for row in taken["notification"] if row[kind] != "deadline_missed"]
    return taken


def _backfill(running: Running, first: str, last: str, reprocess: str) -> None:
    command = ["backfill", "create", "--dag-id", "qp_ingest_qms", "--from-date", first, "--to-date", last]
    done = subprocess.run(
        [str(BIN / "airflow"), *command, "--reprocess-behavior", reprocess, "--max-active-runs", "2"],
        env=running.stack.environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"airflow backfill create failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _backfill_runs(running: Running) -> list[tuple[str, int]]:
    """(state, times cleared) of each backfill run: a reprocessing backfill clears and reruns them."""
    query = "select state, clear_number from dag_run where dag_id = 'qp_ingest_qms' and run_type = 'backfill'"
    return sorted(tuple(row) for row in running.airflow_db(query))


def test_a_backfill_run_twice_changes_nothing(running):
    stack, settings = running.stack, running.settings
    before = _warehouse(settings)
    # Two days of history before the latest night; the nightly run already loaded them. Counted from the stack's own
    # start, not the clock again: a module running past midnight would otherwise move the days.
    first, last = (str(running.nightly_end - timedelta(days=days)) for days in (2, 1))
    _backfill(running, first, last, reprocess="none")
    stack.wait("the backfill and the chain after it", running.settled, 420)
    assert _backfill_runs(running) == [("success", 0)] * 2  # one run per day

    after_first = _warehouse(settings)
    # Only the ledger knows: it records the re-extracted batches, every row a duplicate of a loaded one.
    assert set(changed_tables(before, after_first)) <= {"batch_ledger", "validation_result", "extraction_event"}
    ledger = read_table(settings, "batch_ledger")
    backfilled = ledger[ledger.batch_kind == "backfill"]
    assert len(backfilled) > 0 and set(backfilled.source) == {"qms"} and set(backfilled.status) == {"loaded"}
    assert (backfilled.rows_duplicate == backfilled.rows_extracted).all()

    _backfill(running, first, last, reprocess="completed")
    stack.wait("the second backfill and the chain after it", running.settled, 420)
    assert _backfill_runs(running) == [("success", 1)] * 2  # each day ran again
    assert changed_tables(after_first, _warehouse(settings)) == {}  # the same batches again: the ledger knew them
    _accounted(settings)
