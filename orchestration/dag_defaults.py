"""Operational defaults every QualityPulse DAG shares: owner, retries with backoff, timeouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from core.settings import get_settings
from orchestration.notifiers import TaskFailureNotifier

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
