"""End to end on a real Airflow: scheduler, triggerer, dag-processor and API server (``airflow standalone``).

A source drops a ready marker; the triggerer's watcher turns it into an Asset event; the scheduler runs that
source's ingest DAG, then validation and loading, then the KPI build, and the KPI table fills. Then another
source publishes on Redis and its data arrives too. On the nightly schedule, the
latest night's runs load every source, and a week of QMS history backfilled twice with ``airflow backfill
create`` leaves the warehouse as it was. Slow (a few minutes): marked ``slow``; CI runs it.

Airflow's own metadata is in a PostgreSQL database of the test's, as in production (docker-compose.yml): on SQLite,
with every component writing, ``airflow backfill create`` intermittently fails with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from cli.main import yesterday
from core.catalog import SOURCES
from demo.services import demo_lms_api
from orchestration import events
from tests.conftest import fresh_warehouse, migrated_settings, write_demo_sources
from tests.helpers import changed_tables, read_table, snapshot

# One at a time (one xdist worker): each starts an Airflow whose scheduler and triggerer serve logs on fixed ports.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("airflow-standalone")]

DAGS = Path(__file__).resolve().parents[2] / "dags"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; airflow standalone's log ends:\n{tail}")


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """A running Airflow whose nightly runs stay out of the way (once a year): events drive it."""
    with _standalone(tmp_path, ingest_schedule="0 0 1 1 *") as running:
        yield running


@pytest.fixture
def nightly_airflow(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """A running Airflow on the production schedule: each ingest DAG's latest nightly run starts at once."""
    with _standalone(tmp_path, ingest_schedule="0 0 * * *") as running:
        yield running


@contextlib.contextmanager
def _standalone(tmp_path: Path, ingest_schedule: str) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """A running Airflow with the project's DAGs over the demo sources, and the environment its tasks see."""
    # fresh_warehouse makes any new, empty database: here also the one for Airflow's metadata.
    with fresh_warehouse("sqlite", tmp_path) as url, fresh_warehouse("postgresql", tmp_path) as metadata_url:
        metadata = metadata_url.replace("postgresql://", "postgresql+psycopg://", 1)
        with demo_lms_api(migrated_settings(tmp_path, url)) as settings:
            # The real scheduler runs on the wall clock: the sources must be fresh by it, or the batches' freshness
            # checks block them. Their data ends yesterday, as `make run`'s demo does.
            write_demo_sources(settings, end_date=yesterday())
            port = _free_port()
            home = tmp_path / "airflow"
            env = {
                **os.environ,
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow` commands
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata,  # psycopg 3 does async too: no asyncpg
                "QP_DATA_DIR": str(settings.data_dir),
                "QP_WAREHOUSE_URL": settings.warehouse_url,
                "QP_SIGNAL_POKE_SECONDS": "1",
                "QP_EVENT_CHANNEL_PREFIX": f"qp-e2e-{uuid.uuid4().hex[:8]}",
                "AIRFLOW_CONN_QP_EVENTS": "redis://127.0.0.1:6379/0",
                "QP_INGEST_SCHEDULE": ingest_schedule,
            }
            home.mkdir()
            airflow_cli = str(BIN / "airflow")
            subprocess.run([airflow_cli, "db", "migrate"], env=env, check=True, capture_output=True)
            subprocess.run(
                [airflow_cli, "pools", "set", "qp_warehouse", "1", "warehouse writers"],
                env=env,
                check=True,
                capture_output=True,
            )
            log = tmp_path / "standalone.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [airflow_cli, "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            try:
                yield settings.model_copy(update={"event_channel_prefix": env["QP_EVENT_CHANNEL_PREFIX"]}), env, log
            finally:
                _stop_tree(process)


def _stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop standalone and every process it started (its components run in process groups of their own)."""
    import psutil

    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=20)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=10)


def _watchers_running(env: dict[str, str]) -> bool:
    triggers = _airflow_db(env, "select count(*) from trigger")  # the triggerer's registered triggers
    return bool(triggers) and triggers[0][0] >= 2 * 4  # a marker and a queue watcher per source


def _loaded(settings: object, source: str) -> bool:
    ledger = read_table(settings, "batch_ledger")  # type: ignore[arg-type]
    return bool((ledger[ledger.source == source].status == "loaded").any())


def test_a_ready_marker_and_a_redis_message_each_run_their_chain_to_the_kpi_table(airflow):
    settings, env, log = airflow
    _wait_for("the triggerer to run the watchers", lambda: _watchers_running(env), 180, log)

    marker = events.ready_marker(settings, "qms")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    _wait_for("the QMS data to load", lambda: _loaded(settings, "qms"), 240, log)
    _wait_for(
        "the KPI build",
        lambda: not read_table(settings, "kpi_daily").query("kpi == 'fpy'").empty,
        240,
        log,
    )
    assert not marker.exists()  # the watcher took it

    publisher = redis.Redis.from_url(env["AIRFLOW_CONN_QP_EVENTS"])

    def published_and_loaded() -> bool:
        # Pub/sub keeps nothing for a listener that isn't subscribed yet: a source repeats until it sees its data.
        publisher.publish(events.channel(settings, "finance"), '{"note": "ledger closed"}')
        return _loaded(settings, "finance")

    _wait_for("the finance data to load after a Redis message", published_and_loaded, 240, log)
    publisher.close()
    _wait_for(  # a batch being loaded right now is `processing`: not final yet
        "every landed batch to be loaded or blocked",
        lambda: read_table(settings, "batch_ledger").status.isin(["loaded", "blocked"]).all(),
        240,
        log,
    )
    ledger = read_table(settings, "batch_ledger")
    accounted = ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate + ledger.rows_deleted
    assert (accounted == ledger.rows_extracted).all()
    assert set(ledger.source) == {"qms", "finance"}  # the other sources sent no event and had no nightly run yet


def _airflow_db(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    """Rows of Airflow's own metadata database: the state of runs, triggers and the Asset queue."""
    import psycopg

    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(url, connect_timeout=10) as connection:
            return connection.execute(query).fetchall()
    except psycopg.errors.UndefinedTable:  # not migrated yet
        return []


def _settled(env: dict[str, str], settings: Any) -> bool:
    """No run queued or running, no Asset-triggered run waiting, no backfill open, no batch waiting to be loaded."""
    busy = _airflow_db(env, "select count(*) from dag_run where state in ('queued', 'running')")
    waiting = _airflow_db(env, "select count(*) from asset_dag_run_queue")
    backfilling = _airflow_db(env, "select count(*) from backfill where completed_at is null")
    counts = [rows[0][0] if rows else None for rows in (busy, waiting, backfilling)]
    # A batch being loaded right now is `processing`: not settled yet.
    unloaded = read_table(settings, "batch_ledger").status.isin(["landed", "processing"]).any()
    return counts == [0, 0, 0] and not unloaded


def _backfill(env: dict[str, str], dag_id: str, first: str, last: str, reprocess: str) -> None:
    command = ["backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last]
    done = subprocess.run(
        [str(BIN / "airflow"), *command, "--reprocess-behavior", reprocess, "--max-active-runs", "2"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"airflow backfill create failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _backfill_runs(env: dict[str, str], dag_id: str) -> list[tuple[str, int]]:
    """(state, times cleared) of each backfill run of ``dag_id``: a reprocessing backfill clears and reruns them."""
    query = f"select state, clear_number from dag_run where dag_id = '{dag_id}' and run_type = 'backfill'"
    return sorted(_airflow_db(env, query))


def test_the_nightly_runs_load_everything_and_a_week_backfilled_twice_changes_nothing(nightly_airflow):
    settings, env, log = nightly_airflow
    _wait_for("the nightly runs to load every source", lambda: all(_loaded(settings, s) for s in SOURCES), 300, log)
    _wait_for("the chain to settle after the nightly runs", lambda: _settled(env, settings), 300, log)
    assert not read_table(settings, "kpi_daily").query("kpi == 'fpy'").empty
    before = snapshot(settings)

    # A week of history before the latest night; the nightly run already loaded it.
    first, last = (str(yesterday() - timedelta(days=days)) for days in (7, 1))
    _backfill(env, "qp_ingest_qms", first, last, reprocess="none")
    _wait_for("the backfill and the chain after it", lambda: _settled(env, settings), 420, log)
    assert _backfill_runs(env, "qp_ingest_qms") == [("success", 0)] * 7  # one run per day of the week

    after_first = snapshot(settings)
    # Only the ledger knows: it records the week's re-extracted batches, every row a duplicate of a loaded one.
    assert set(changed_tables(before, after_first)) <= {"batch_ledger", "validation_result", "extraction_event"}
    ledger = read_table(settings, "batch_ledger")
    backfilled = ledger[ledger.batch_kind == "backfill"]
    assert len(backfilled) > 0 and set(backfilled.source) == {"qms"} and set(backfilled.status) == {"loaded"}
    assert (backfilled.rows_duplicate == backfilled.rows_extracted).all()

    _backfill(env, "qp_ingest_qms", first, last, reprocess="completed")
    _wait_for("the second backfill and the chain after it", lambda: _settled(env, settings), 420, log)
    assert _backfill_runs(env, "qp_ingest_qms") == [("success", 1)] * 7  # each day ran again

    assert changed_tables(after_first, snapshot(settings)) == {}  # the same batches again: the ledger knew them
