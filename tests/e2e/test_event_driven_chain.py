"""End to end on a real Airflow: scheduler, triggerer, dag-processor and API server (``airflow standalone``).

A source drops a ready marker; the triggerer's watcher turns it into an Asset event; the scheduler runs that
source's ingest DAG, then validation and loading, then the KPI build, and the KPI table fills. Then another
source publishes on Redis and its data arrives too. Slow (about two minutes): marked ``slow``; CI runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from qualitypulse import events
from qualitypulse.demo_services import demo_lms_api
from tests.conftest import fresh_warehouse, migrated_settings, write_demo_sources
from tests.helpers import read_table

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

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
def airflow(tmp_path: Path) -> Iterator[tuple[object, dict[str, str], Path]]:
    """A running Airflow with the project's DAGs over the demo sources, and the environment its tasks see."""
    with fresh_warehouse("sqlite", tmp_path) as url:
        with demo_lms_api(migrated_settings(tmp_path, url)) as settings:
            write_demo_sources(settings)
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
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "QP_DATA_DIR": str(settings.data_dir),
                "QP_WAREHOUSE_URL": settings.warehouse_url,
                "QP_SIGNAL_POKE_SECONDS": "1",
                "QP_EVENT_CHANNEL_PREFIX": f"qp-e2e-{uuid.uuid4().hex[:8]}",
                "AIRFLOW_CONN_QP_EVENTS": "redis://127.0.0.1:6379/0",
                "QP_INGEST_SCHEDULE": "0 0 1 1 *",  # the nightly run stays out of the way: events drive this test
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


def _watchers_running(home: Path) -> bool:
    database = home / "airflow.db"
    if not database.exists():
        return False
    with sqlite3.connect(database) as connection:  # Airflow's own metadata: the triggerer's registered triggers
        try:
            (count,) = connection.execute("select count(*) from trigger").fetchone()
        except sqlite3.OperationalError:
            return False
    return count >= 2 * 4  # a marker and a queue watcher per source


def _loaded(settings: object, source: str) -> bool:
    ledger = read_table(settings, "batch_ledger")  # type: ignore[arg-type]
    return bool((ledger[ledger.source == source].status == "loaded").any())


def test_a_ready_marker_and_a_redis_message_each_run_their_chain_to_the_kpi_table(airflow):
    settings, env, log = airflow
    home = Path(env["AIRFLOW_HOME"])
    _wait_for("the triggerer to run the watchers", lambda: _watchers_running(home), 180, log)

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
    _wait_for(
        "every landed batch to be processed",
        lambda: (read_table(settings, "batch_ledger").status != "landed").all(),
        240,
        log,
    )
    ledger = read_table(settings, "batch_ledger")
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()
    assert set(ledger.source) == {"qms", "finance"}  # the other sources sent no event and had no nightly run yet
