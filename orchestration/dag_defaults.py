"""Operational defaults every QualityPulse DAG shares: owner, retries with backoff, timeouts, deadlines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

# airflow.sdk exports these too; its type stub of 3.3 does not list them yet.
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from core.settings import get_settings
from orchestration.notifiers import DeadlineMissedNotifier, TaskFailureNotifier

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "quality-data",
    "retries": 2,
    # Read when a DAG file is parsed (QP_TASK_RETRY_DELAY_SECONDS): the scheduler's and the workers' parse agree.
    "retry_delay": timedelta(seconds=get_settings().task_retry_delay_seconds),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=30),
    # After the last retry: the pipeline's operators hear of it on the alert channels.
    "on_failure_callback": [TaskFailureNotifier()],
}

# Tasks that write the warehouse share this Airflow pool: one slot serializes them, which an SQLite warehouse
# needs (one writer at a time) and which keeps loads and KPI builds from competing on PostgreSQL. Create it with
# `airflow pools set qp_warehouse 1 "..."` (`make airflow` and the compose stack's init do).
WAREHOUSE_POOL = "qp_warehouse"


def deadline_alert(minutes: float) -> DeadlineAlert | None:
    """A run not done ``minutes`` after it was queued is late: :class:`DeadlineMissedNotifier` tells the operators.

    The scheduler creates the deadline when it queues the run and, once it passes with the run unfinished, has the
    triggerer run the callback (``AsyncCallback``). None (no deadline) for 0 minutes or less.
    """
    if minutes <= 0:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(DeadlineMissedNotifier),
        name="qualitypulse_late_run",
    )
