"""Fault injection through the real interfaces: a load SIGKILLed mid-batch, PostgreSQL restarted under a running
load, two loads at once. After each, an ordinary rerun (`qp load`, `qp kpis`) completes every batch, the ledger
adds up per batch, and the warehouse holds what a run without the fault gives: each row once. And a notification
channel down then up, with `qp notify` killed mid-send before it: every notification arrives, the one in flight
at the crash again under the same Idempotency-Key, no other twice.

The same channel fault where notifications are made: regression alerts in
tests/integration/test_alert_notifications.py, task failures (a real DAG's failure callback) in
tests/dags/test_failure_notifier.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from core.catalog import BY_NAME, DATASETS, SOURCES
from core.settings import Settings
from demo.services import demo_lms_api, free_port
from demo.source_systems import DemoLocations, DemoSpec, generate
from pipeline.ingest import ingest_source
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from tests.conftest import DEMO_END, IN_CI, fresh_warehouse, migrated_settings
from tests.faults import (
    QpProcess,
    ledger,
    postgres_bin_dir,
    read_frame,
    run_qp,
    start_qp,
    throwaway_postgres,
    wait_until,
    writes_held,
    writing_batch,
)
from tests.helpers import INTERVAL_END
from tests.receivers import http_receiver

# One worker builds the module's reference warehouses once and runs its loads in turn.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("fault-injection")]

FINAL_STATES = {"loaded", "blocked"}
# The demo over four weeks, not thirteen: every dataset, its bad records and its weekly rhythm, at a third of the
# load and KPI time (the module runs eight loads and three KPI builds).
DEMO_DAYS = 28
# The biggest batch of the demo: killing or cutting its load mid-write leaves the most to roll back.
BIG_DATASET = "defects"
BIG_TABLE = BY_NAME[BIG_DATASET].fact_table


@dataclass(frozen=True)
class WarehouseState:
    """What a user checks after a run: each fact table's rows (key and content hash), the quarantine, the KPIs."""

    facts: dict[str, set[tuple[str, ...]]]
    quarantined: dict[str, int]
    kpi_daily: pd.DataFrame


def warehouse_state(url: str, with_kpis: bool = True) -> WarehouseState:
    facts = {}
    for dataset in DATASETS:
        columns = ", ".join([*dataset.key, "row_hash"])
        rows = read_frame(url, f"select {columns} from {dataset.fact_table}").astype(str)
        facts[dataset.name] = set(rows.itertuples(index=False, name=None))
        assert len(facts[dataset.name]) == len(rows), f"{dataset.fact_table} holds a row twice"
    quarantine = read_frame(url, "select dataset, count(*) as n from quarantine group by dataset")
    kpis = read_frame(url, "select * from kpi_daily") if with_kpis else pd.DataFrame()
    return WarehouseState(dict(facts), dict(zip(quarantine.dataset, quarantine.n, strict=True)), kpis)


def assert_same_facts(state: WarehouseState, reference: WarehouseState) -> None:
    for name, rows in reference.facts.items():
        got = state.facts[name]
        assert len(got) == len(rows), f"{name}: {len(got)} rows, the run without the fault loaded {len(rows)}"
        assert got == rows, f"{name}: {len(got - rows)} rows differ from the run without the fault"
    assert state.quarantined == reference.quarantined


def assert_same_kpis(state: WarehouseState, reference: WarehouseState) -> None:
    key = ["kpi", "kpi_date", "site_id", "line_id", "step_id", "grain"]
    got, expected = (
        frame.drop(columns=["pipeline_run_id", "computed_at"]).astype({"kpi_date": str}).sort_values(key)
        for frame in (state.kpi_daily, reference.kpi_daily)
    )
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), rtol=1e-9)


def assert_every_batch_final_and_adding_up(url: str) -> pd.DataFrame:
    """Every batch of the ledger loaded or blocked (none waiting, held, failed), and its rows accounted for."""
    batches = ledger(url)
    stuck = batches[~batches.status.isin(FINAL_STATES)]
    assert stuck.empty, stuck[["batch_id", "status", "claimed_by", "reason"]].to_string()
    accounted = batches.rows_loaded + batches.rows_quarantined + batches.rows_duplicate + batches.rows_deleted
    wrong = batches[batches.rows_extracted != accounted]
    assert wrong.empty, wrong.to_string()
    assert batches.claimed_by.isna().all()
    return batches


def write_demo(settings: Settings) -> None:
    """The demo source systems ending on the fixed ``DEMO_END``, so every run of the test sees the same rows."""
    generate(
        DemoSpec(end_date=DEMO_END, days=DEMO_DAYS),
        DemoLocations(settings.qms_url, settings.survey_drop_dir, settings.lms_store_dir, settings.finance_url),
    )


def ingest_everything(settings: Settings, interval_end: datetime = INTERVAL_END) -> None:
    for source in SOURCES:
        ingest_source(source, interval_end, "fault-test", settings)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], WarehouseState]:
    """The warehouse after a run without faults over the same demo sources, per backend (built once, on first use)."""
    built: dict[str, WarehouseState] = {}

    def of(kind: str) -> WarehouseState:
        if kind not in built:
            folder = tmp_path_factory.mktemp(f"reference-{kind}")
            with fresh_warehouse(kind, folder) as url, demo_lms_api(migrated_settings(folder, url)) as settings:
                write_demo(settings)
                ingest_everything(settings)
                validate_and_load(settings)
                build_kpis("reference", settings)
                built[kind] = warehouse_state(url)
        return built[kind]

    return of


def backend(settings: Settings) -> str:
    return "sqlite" if settings.warehouse_url.startswith("sqlite") else "postgresql"


def wait_for_write(url: str, load: QpProcess, dataset: str, blocked: bool = False, timeout: float = 120) -> str:
    """The batch of ``dataset`` that ``load`` is writing now (it has claimed it and its transaction is open)."""

    def writing() -> str | None:
        assert load.process.poll() is None, f"the load ended before writing {dataset}:\n{load.text()[-3000:]}"
        return writing_batch(url, load.pid, dataset, blocked)

    return str(wait_until(writing, timeout, f"the load to write a {dataset} batch"))


def test_a_load_killed_mid_batch_is_completed_by_the_next_ordinary_run(settings, tmp_path: Path, reference):
    write_demo(settings)
    ingest_everything(settings)
    url = settings.warehouse_url

    with writes_held(url, BIG_TABLE) as blocked:
        load = start_qp(settings, "load", output=tmp_path / "killed-load.log")
        killed_batch = wait_for_write(url, load, BIG_DATASET, blocked=blocked)
        load.kill()

    # The crash left its claim: the batch is processing, held by a process that is gone, and none of it was written.
    batches = ledger(url).set_index("batch_id")
    assert batches.loc[killed_batch, "status"] == "processing"
    assert f":{load.pid}:" in batches.loc[killed_batch, "claimed_by"]
    written = read_frame(url, f"select count(*) as n from {BIG_TABLE} where batch_id = '{killed_batch}'")
    assert written.n.iloc[0] == 0
    assert read_frame(url, f"select count(*) as n from quarantine where batch_id = '{killed_batch}'").n.iloc[0] == 0
    assert set(batches.status) <= {"loaded", "processing", "landed"}, batches.status.value_counts()

    rerun = run_qp(settings, "load", output=tmp_path / "rerun-load.log")
    run_qp(settings, "kpis", output=tmp_path / "kpis.log")

    assert killed_batch in rerun.claimed_batches()
    loaded = assert_every_batch_final_and_adding_up(url)
    assert set(loaded.batch_id) == set(batches.index)  # the rerun took what was there; nothing new landed
    state = warehouse_state(url)
    expected = reference(backend(settings))
    assert_same_facts(state, expected)
    assert_same_kpis(state, expected)


def throwaway_cluster_programs() -> Path:
    found = postgres_bin_dir()
    if found is None:
        message = "PostgreSQL's server programs (initdb, pg_ctl) are not installed: no throwaway cluster"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def throwaway_cluster_settings(tmp_path: Path) -> Iterator[tuple[Settings, Callable[[], None]]]:
    """Settings whose warehouse lives in a PostgreSQL cluster of the test's own (never the machine's server), and a
    function that restarts that cluster."""
    with throwaway_postgres(throwaway_cluster_programs()) as cluster:
        url = cluster.create_database("qualitypulse")
        with demo_lms_api(migrated_settings(tmp_path, url)) as settings:
            yield settings, cluster.restart


def test_postgresql_restarted_under_a_load_then_an_ordinary_rerun_completes_every_batch(
    throwaway_cluster_settings, tmp_path: Path, reference
):
    settings, restart_database = throwaway_cluster_settings
    write_demo(settings)
    ingest_everything(settings)
    url = settings.warehouse_url
    landed = set(ledger(url).batch_id)

    # The test holds a lock on the defect facts, so the load waits inside its defect batch's write transaction
    # (rows staged, merge pending) until the restart cuts it there: the same point every time, not a race.
    blocker = psycopg.connect(url)
    try:
        blocker.execute(f"lock table {BIG_TABLE} in access exclusive mode")
        load = start_qp(settings, "load", output=tmp_path / "cut-load.log")
        cut_batch = wait_for_write(url, load, BIG_DATASET, blocked=True)
        restart_database()  # every session is terminated mid-transaction; the server is back when this returns
    finally:
        blocker.close()
    load.wait(timeout=120)  # the run fails, or carries on with the batches after the cut one: either is fine

    assert read_frame(url, f"select count(*) as n from {BIG_TABLE} where batch_id = '{cut_batch}'").n.iloc[0] == 0
    assert ledger(url).set_index("batch_id").status[cut_batch] != "loaded"

    rerun = run_qp(settings, "load", output=tmp_path / "rerun-load.log")

    assert cut_batch in rerun.claimed_batches()
    batches = assert_every_batch_final_and_adding_up(url)
    assert set(batches.batch_id) == landed
    assert_same_facts(warehouse_state(url, with_kpis=False), reference("postgresql"))


def land_day_by_day(settings: Settings, first_end: datetime, days: int) -> None:
    """Ingest as the nightly runs would: up to ``first_end``, then one more day at a time (many small batches).

    The drop folder holds every day's survey file from the start, so the survey is taken by the last run: an earlier
    run would rightly quarantine the rows dated after its interval as implausible, unlike the reference run.
    """
    for day in range(days + 1):
        end = first_end + timedelta(days=day)
        for source in SOURCES:
            if source != "survey" or day == days:
                ingest_source(source, end, "fault-test", settings)


def test_two_loads_at_once_process_every_batch_exactly_once(settings, tmp_path: Path, reference):
    write_demo(settings)
    land_day_by_day(settings, INTERVAL_END - timedelta(days=4), days=4)
    url = settings.warehouse_url
    landed = set(ledger(url).batch_id)
    assert len(landed) > 30

    loads = [start_qp(settings, "load", output=tmp_path / f"load-{n}.log") for n in (1, 2)]
    codes = [load.wait(timeout=240) for load in loads]

    first, second = (set(load.claimed_batches()) for load in loads)
    assert first and second, "one load did all the work: they did not run at the same time"
    assert not first & second, f"claimed by both loads: {sorted(first & second)}"
    assert codes == [0, 0], "\n\n".join(load.text()[-3000:] for load in loads)
    batches = assert_every_batch_final_and_adding_up(url)
    # Every batch was worked on by one of them (and those they landed themselves, replaying quarantined rows).
    assert set(batches.batch_id) == first | second
    assert landed <= first | second
    assert_same_facts(warehouse_state(url, with_kpis=False), reference(backend(settings)))


def test_a_notify_killed_mid_send_and_a_channel_down_then_up_deliver_every_notification(
    settings, tmp_path: Path, monkeypatch
):
    hook_port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://:hooktoken@127.0.0.1:{hook_port}/hook")
    write_demo(settings)
    (settings.survey_drop_dir / "feedback_2026-11-23.xlsx").write_bytes(b"PK\x03\x04 a workbook")
    (settings.survey_drop_dir / "feedback_2026-11-23.xlsx.ready").touch()  # a format not read: a critical alert
    ingest_everything(settings)
    validate_and_load(settings)
    build_kpis("fault-test", settings)
    run_qp(settings, "check", output=tmp_path / "check.log")
    queued = read_frame(settings.warehouse_url, "select notification_id, status from notification")
    assert len(queued) >= 2 and set(queued.status) == {"pending"}

    # `qp notify` is killed while the receiver holds its first post: sent, but not recorded as sent.
    with http_receiver(hook_port) as hook:
        hook.hold = threading.Event()
        crashed = start_qp(settings, "notify", output=tmp_path / "killed-notify.log")
        wait_until(lambda: hook.requests, 60, "the first post")
        crashed.kill()
        hook.hold.set()
    # The channel is down now: the next delivery leaves everything pending and says why, without the token.
    down = run_qp(settings, "notify", output=tmp_path / "down-notify.log")
    assert "0 notification(s) sent" in down.text() and "hooktoken" not in down.text()
    outbox = read_frame(settings.warehouse_url, "select status, last_error from notification")
    assert set(outbox.status) == {"pending"} and "hooktoken" not in outbox.last_error.str.cat()

    with http_receiver(hook_port) as back:
        up = run_qp(settings, "notify", output=tmp_path / "up-notify.log")
        run_qp(settings, "notify", output=tmp_path / "again-notify.log")  # nothing left to send

    assert f"{len(queued)} notification(s) sent, 0 pending" in up.text()
    assert set(read_frame(settings.warehouse_url, "select status from notification").status) == {"sent"}
    [in_flight] = hook.requests
    keys = [r["headers"]["Idempotency-Key"] for r in back.requests]
    assert len(keys) == len(set(keys)) == len(queued)  # each notification once after the crash
    assert in_flight["headers"]["Idempotency-Key"] in keys  # the one cut off, resent under its key
