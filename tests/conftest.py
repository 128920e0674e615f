"""Shared fixtures: a fresh warehouse on SQLite and on real PostgreSQL, demo sources, settings.

Every warehouse test runs on both backends. PostgreSQL tests create and drop their own database; under
``CI=true`` a PostgreSQL that can't be reached fails the run instead of skipping it, and any skipped test
fails the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

REQUIRED_MARKERS = {"unit", "integration", "dags", "e2e", "browser"}
PG_ADMIN_URL = os.environ.get("QP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
DEMO_END = date(2026, 11, 24)


def pytest_configure(config: pytest.Config) -> None:
    # A fresh Airflow home per test session, set before anything imports Airflow (it reads config on import).
    home = tempfile.mkdtemp(prefix="qp-airflow-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    # Tests run the DAGs under one settings after another (a warehouse and data folder each): Airflow's stored and
    # cached copies of a DAG, throttled to one rewrite in 30 s, must follow at once (orchestration.runner.run_dag).
    os.environ["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"] = "0"


# Under `make test` (pytest-xdist, --dist loadgroup) the tests that share an expensive session fixture run on one
# worker, so it is built once, not once per worker.
SHARED_FIXTURE_GROUPS = {"demo_warehouse": "demo-warehouse", "airflow_db": "airflow-metadata"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not REQUIRED_MARKERS & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError(f"tests without a unit/integration/dags marker: {unmarked[:5]}")
    for item in items:
        shared = [group for fixture, group in SHARED_FIXTURE_GROUPS.items() if fixture in item.fixturenames]
        if shared and not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(shared[0]))


_UNGROUPED = pytest.StashKey[bool]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a pytest-xdist worker under --dist loadgroup, note whether the groups are kept: xdist marks a grouped test
    by suffixing its node id, which pytest 9.2 silently ignores (two Airflows then ran side by side)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and session.config.getoption("loadgroup", default=False):
        grouped = [item for item in session.items if item.get_closest_marker("xdist_group")]
        session.config.stash[_UNGROUPED] = any("@" not in item.nodeid for item in grouped)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.stash.get(_UNGROUPED, False) and item.get_closest_marker("xdist_group"):
        pytest.fail("pytest-xdist does not keep xdist_group tests to one worker here (check the pytest pin)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == 0:
        print(f"\nCI=true: {skipped} test(s) were skipped; every test is required in CI.", file=sys.stderr)
        session.exitstatus = 1


def _create_postgres_database() -> tuple[str, str]:
    import psycopg

    name = f"qp_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'create database "{name}"')
    except psycopg.OperationalError as error:
        message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return name, f"{base}/{name}"


def _drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')


BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def fresh_warehouse(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty warehouse database of ``kind``; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'warehouse.db'}"
        return
    name, url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(name)


def migrated_settings(folder: Path, warehouse_url: str):  # type: ignore[no-untyped-def]
    from core.engine import engine_for
    from core.settings import Settings
    from warehouse.migrate import upgrade

    configured = Settings(data_dir=folder / "data", warehouse_url=warehouse_url)
    engine = engine_for(configured.warehouse_url)
    upgrade(engine)
    engine.dispose()
    return configured


def write_demo_sources(settings, end_date: date = DEMO_END) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The demo source systems, their last day ``end_date``: fixed by default, so results are reproducible."""
    from demo.source_systems import DemoLocations, DemoSpec, generate

    return generate(DemoSpec(end_date=end_date), DemoLocations.of(settings))


@pytest.fixture(params=BACKENDS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty warehouse database of each kind, dropped after the test."""
    with fresh_warehouse(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL warehouse database, for behaviour only PostgreSQL has."""
    with fresh_warehouse("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, warehouse_url: str):  # type: ignore[no-untyped-def]
    """Settings for an isolated data folder and warehouse, migrated to the newest schema, with the demo LMS/HR
    API serving that folder's store on 127.0.0.1 for the test's duration."""
    from demo.services import demo_lms_api

    with demo_lms_api(migrated_settings(tmp_path, warehouse_url)) as configured:
        yield configured


@pytest.fixture
def demo_sources(settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The 90-day demo source systems written for ``settings``; returns the rows per source table."""
    return write_demo_sources(settings)


@pytest.fixture(scope="session", params=BACKENDS)
def demo_warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A warehouse of each kind after one run of the whole chain over the demo sources (shared, read-only).

    Built once per session and backend, not per module: each build runs the whole chain (about a minute here), and
    five modules read it.
    """
    from demo.services import demo_lms_api
    from tests.helpers import run_chain

    folder = tmp_path_factory.mktemp(f"demo-{request.param}")
    with fresh_warehouse(request.param, folder) as url:
        # The demo API (and the URL it puts in the environment) stops once the chain has run: left serving, every
        # later test's settings would read this session's LMS store instead of its own.
        with demo_lms_api(migrated_settings(folder, url)) as configured:
            counts = write_demo_sources(configured)
            run_chain(configured)
        yield configured, counts


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Airflow's metadata database in this session's Airflow home, migrated once."""
    venv_bin = Path(sys.executable).parent
    subprocess.run([str(venv_bin / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def webhook_receiver():  # type: ignore[no-untyped-def]
    """A real HTTP receiver on 127.0.0.1 recording each POST (see tests/receivers.py)."""
    from tests.receivers import http_receiver

    with http_receiver() as inbox:
        yield inbox
