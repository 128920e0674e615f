"""A task that fails for good notifies the operators through the Airflow notifier in every DAG's defaults.

The notification goes through the warehouse's outbox: a channel that is down gets it later, exactly once.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from core.engine import engine_for
from tests.conftest import migrated_settings
from tests.receivers import free_port, http_receiver, smtp_server
from warehouse.schema import notification

pytestmark = pytest.mark.dags

FAILING_DAG = textwrap.dedent(
    """
    from airflow.sdk import dag, task

    from orchestration.dag_defaults import DEFAULT_ARGS, START_DATE


    @dag(dag_id="qp_failing", schedule=None, start_date=START_DATE, default_args={**DEFAULT_ARGS, "retries": 0})
    def failing():
        @task
        def load():
            raise ConnectionError("could not connect to postgresql+psycopg://qp:s3cret@warehouse:5432/qp")

        load()


    failing()
    """
)


def _failing_dag(folder: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The DAG above, in a dags folder of the test's own."""
    import airflow.settings
    from airflow.dag_processing.dagbag import DagBag

    dags = folder / "dags"
    dags.mkdir()
    (dags / "qp_failing.py").write_text(FAILING_DAG)
    # dag.test() runs the DAGs of the dags folder (its bundle): here, this test's folder.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(dags))
    return DagBag(dag_folder=str(dags)).dags["qp_failing"]


def _use_warehouse(folder: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A migrated warehouse that the task's notifier (it reads the environment) and ``qp`` use."""
    configured = migrated_settings(folder, warehouse_url)
    monkeypatch.setenv("QP_DATA_DIR", str(configured.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", configured.warehouse_url)
    return configured


def _outbox(warehouse_url: str) -> list[dict[str, object]]:
    engine = engine_for(warehouse_url)
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(select(notification)).mappings()]
    engine.dispose()
    return rows


def test_a_failed_task_is_reported_by_mail_and_webhook_without_its_secrets(
    airflow_db, tmp_path, monkeypatch, warehouse_url
):
    dag = _failing_dag(tmp_path, monkeypatch)
    configured = _use_warehouse(tmp_path, warehouse_url, monkeypatch)
    with smtp_server() as mail, http_receiver() as hook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QP_ALERT_EMAIL",
            f"smtp://127.0.0.1:{mail.port}?from=qp%40example.com&to=ops%40example.com&starttls=false",
        )
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://:hooktoken@127.0.0.1:{hook.port}/hook")

        run = dag.test()

    assert run.state == "failed"
    outbox = _outbox(configured.warehouse_url)
    assert {(r["alert_kind"], r["channel"], r["status"]) for r in outbox} == {
        ("task_failure", "qp_alert_email", "sent"),
        ("task_failure", "qp_alert_webhook", "sent"),
    }
    assert "s3cret" not in str(outbox)
    [message] = mail.messages
    assert message["Subject"] == "[CRITICAL] QualityPulse task failed: qp_failing.load"
    assert "ConnectionError: could not connect to postgresql+psycopg://qp:***@warehouse:5432/qp" in mail.body()
    [post] = hook.requests
    assert post["json"]["kind"] == "task_failure" and post["json"]["facts"]["Owner"] == "quality-data"
    assert post["json"]["link"].endswith("/tasks/load?try_number=1")  # the task's log in the Airflow UI
    assert post["headers"]["Authorization"] == "Bearer hooktoken"
    everything_sent = mail.body() + str(post)
    assert "s3cret" not in everything_sent


def test_a_task_failure_waits_in_the_outbox_while_the_channel_is_down_and_is_sent_once_when_it_is_up(
    airflow_db, tmp_path, monkeypatch, warehouse_url
):
    from cli.main import main
    from core.settings import get_settings
    from orchestration.connections import configured_channels
    from pipeline.alerting import send_notifications

    dag = _failing_dag(tmp_path, monkeypatch)
    configured = _use_warehouse(tmp_path, warehouse_url, monkeypatch)
    port = free_port()  # nothing listens there yet: the receiver is down
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://:hooktoken@127.0.0.1:{port}/hook")

    run = dag.test()

    assert run.state == "failed"
    [row] = _outbox(configured.warehouse_url)
    assert (row["alert_kind"], row["event"], row["channel"], row["status"]) == (
        "task_failure",
        "failed",
        "qp_alert_webhook",
        "pending",
    )
    assert row["attempts"] == 1 and "could not be reached" in str(row["last_error"])
    assert "s3cret" not in row["payload"] and "hooktoken" not in str(row["last_error"])

    with http_receiver(port) as hook:
        assert main(["notify"]) == 0  # `qp notify`: the receiver is up now
        # A second delivery sends nothing.
        assert send_notifications(get_settings(), configured_channels).sent == 0

    [post] = hook.requests
    assert post["json"]["kind"] == "task_failure" and post["json"]["subject"].endswith("qp_failing.load")
    assert post["headers"]["Idempotency-Key"] == row["alert_id"]
    assert "s3cret" not in str(post)
    [row] = _outbox(configured.warehouse_url)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


def test_a_task_failure_is_sent_directly_when_the_warehouse_is_unreachable(
    airflow_db, tmp_path, monkeypatch, webhook_receiver, caplog
):
    dag = _failing_dag(tmp_path, monkeypatch)
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QP_WAREHOUSE_URL", f"postgresql://qp:wh-s3cret@127.0.0.1:{free_port()}/qp")
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://127.0.0.1:{webhook_receiver.port}/hook")

    with caplog.at_level(logging.INFO):
        run = dag.test()

    assert run.state == "failed"
    [post] = webhook_receiver.requests
    assert post["json"]["kind"] == "task_failure"
    assert "notification outbox can't take it" in caplog.text and "sending directly" in caplog.text
    assert "s3cret" not in caplog.text and "s3cret" not in str(post)
