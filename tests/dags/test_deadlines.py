"""Deadlines: the ingest and KPI DAGs carry the configured DeadlineAlerts, and a missed one reaches the channels.

A real scheduler creates a deadline as it queues a run, marks it missed once it passes, and the triggerer runs the
callback. Here Airflow's own pieces do each step (the run queued through the serialized DAG, ``Deadline.handle_miss``
as the scheduler's loop calls it, the queued ``CallbackTrigger`` run as the triggerer runs it), without their loops.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from core.catalog import SOURCES
from tests.conftest import migrated_settings
from tests.receivers import http_receiver, smtp_server

pytestmark = pytest.mark.dags

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _dagbag(monkeypatch: pytest.MonkeyPatch, **minutes: str):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    for name, value in minutes.items():
        monkeypatch.setenv(f"QP_{name.upper()}_DEADLINE_MINUTES", value)
    return DagBag(dag_folder=str(DAGS))


def test_the_ingest_and_kpi_dags_carry_the_deadlines_the_environment_sets(monkeypatch):
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineReference

    bag = _dagbag(monkeypatch, ingest="45", kpis="20")

    assert bag.import_errors == {}
    expected = {**{f"qp_ingest_{s}": timedelta(minutes=45) for s in SOURCES}, "qp_kpis": timedelta(minutes=20)}
    for dag_id, interval in expected.items():
        [alert] = bag.dags[dag_id].deadline
        assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT, dag_id
        assert alert.interval == interval, dag_id
        assert isinstance(alert.callback, AsyncCallback)  # run by the triggerer
        assert alert.callback.path == "orchestration.notifiers.DeadlineMissedNotifier"
    assert not bag.dags["qp_validate_load"].deadline  # triggered by the raw batches: the KPI deadline covers it


def test_no_deadline_when_configured_off(monkeypatch):
    bag = _dagbag(monkeypatch, ingest="0", kpis="0")

    assert not any(bag.dags[dag_id].deadline for dag_id in bag.dag_ids)


def _sync_dags_folder_to_db() -> None:
    """What the dag-processor does: the DAG folder's DAGs serialized into the metadata database."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)


async def _run_trigger(trigger) -> list[dict]:  # type: ignore[no-untyped-def]
    return [event.payload async for event in trigger.run()]


def test_a_missed_kpi_deadline_reaches_mail_and_webhook_through_the_outbox(airflow_db, tmp_path, monkeypatch):
    from airflow._shared.module_loading import import_string
    from airflow.models.dagbag import DBDagBag
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    configured = migrated_settings(tmp_path, f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("QP_DATA_DIR", str(configured.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", configured.warehouse_url)
    monkeypatch.setenv("QP_KPIS_DEADLINE_MINUTES", "0.01")  # 0.6 s after the run is queued
    _sync_dags_folder_to_db()

    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag("qp_kpis", session=session)  # the scheduler's copy
        assert dag is not None
        run = dag.create_dagrun(
            run_id=f"manual__deadline-{uuid.uuid4().hex[:8]}",
            logical_date=None,
            data_interval=None,
            run_after=None,
            conf=None,
            run_type=DagRunType.MANUAL,
            state=DagRunState.QUEUED,  # the deadline counts from here; nothing ever runs it
            triggered_by=DagRunTriggeredByType.TEST,
            session=session,
        )
        session.flush()
        [deadline] = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id))
        assert deadline.deadline_time == run.queued_at + timedelta(seconds=0.6)
        time.sleep(max(0.0, (deadline.deadline_time - run.queued_at).total_seconds()) + 0.2)
        missed = session.scalars(select(Deadline).where(Deadline.deadline_time < run.queued_at + timedelta(hours=1)))
        assert deadline in list(missed)
        deadline.handle_miss(session)  # the scheduler's loop, for each deadline past and not yet missed
        session.flush()
        trigger_row = deadline.callback.trigger
        classpath, kwargs = trigger_row.classpath, trigger_row.kwargs
        run_id = run.run_id

    with smtp_server() as mail, http_receiver() as hook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QP_ALERT_EMAIL",
            f"smtp://127.0.0.1:{mail.port}?from=qp%40example.com&to=ops%40example.com&starttls=false",
        )
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://127.0.0.1:{hook.port}/hook")
        # The triggerer: the queued trigger rebuilt from its row, and run.
        events = asyncio.run(_run_trigger(import_string(classpath)(**kwargs)))

    assert [e["state"] for e in events] == ["running", "success"], events
    [post] = hook.requests
    assert post["json"]["kind"] == "deadline_missed"
    assert post["json"]["facts"]["DAG"] == "qp_kpis" and post["json"]["facts"]["Run"] == run_id
    assert post["json"]["facts"]["State"] == "queued"
    [message] = mail.messages
    assert message["Subject"].endswith("QualityPulse run late: qp_kpis")
    assert run_id in mail.body()
