"""A task that fails for good notifies the operators through the Airflow notifier in every DAG's defaults."""

from __future__ import annotations

import textwrap

import pytest

from tests.receivers import http_receiver, smtp_server

pytestmark = pytest.mark.dags

FAILING_DAG = textwrap.dedent(
    """
    from airflow.sdk import dag, task

    from qualitypulse.dag_defaults import DEFAULT_ARGS, START_DATE


    @dag(dag_id="qp_failing", schedule=None, start_date=START_DATE, default_args={**DEFAULT_ARGS, "retries": 0})
    def failing():
        @task
        def load():
            raise ConnectionError("could not connect to postgresql+psycopg://qp:s3cret@warehouse:5432/qp")

        load()


    failing()
    """
)


def test_a_failed_task_is_reported_by_mail_and_webhook_without_its_secrets(airflow_db, tmp_path, monkeypatch):
    import airflow.settings
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "qp_failing.py").write_text(FAILING_DAG)
    # dag.test() runs the DAGs of the dags folder (its bundle): here, this test's folder.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(tmp_path))
    with smtp_server() as mail, http_receiver() as hook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QP_ALERT_EMAIL",
            f"smtp://127.0.0.1:{mail.port}?from=qp%40example.com&to=ops%40example.com&starttls=false",
        )
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://:hooktoken@127.0.0.1:{hook.port}/hook")
        dag = DagBag(dag_folder=str(tmp_path)).dags["qp_failing"]

        run = dag.test()

    assert run.state == "failed"
    [message] = mail.messages
    assert message["Subject"] == "[CRITICAL] QualityPulse task failed: qp_failing.load"
    assert "ConnectionError: could not connect to postgresql+psycopg://qp:***@warehouse:5432/qp" in mail.body()
    [post] = hook.requests
    assert post["json"]["kind"] == "task_failure" and post["json"]["facts"]["Owner"] == "quality-data"
    assert post["json"]["link"].endswith("/tasks/load?try_number=1")  # the task's log in the Airflow UI
    assert post["headers"]["Authorization"] == "Bearer hooktoken"
    everything_sent = mail.body() + str(post)
    assert "s3cret" not in everything_sent
