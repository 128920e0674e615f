"""Airflow notifiers: a task that fails for good tells the people who run the pipeline, on the alert channels.

Attached to every QualityPulse task through ``DEFAULT_ARGS`` (``on_failure_callback``), so it fires after the
last retry, in the worker that ran the task. Which channels: ``QP_TASK_FAILURE_CHANNELS`` (connection ids,
comma-separated; the ones defined are used, see ``alerts/channels.py``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from airflow.sdk import BaseNotifier

from alerts.channels import Notification, configured_channels, deliver, redact

log = logging.getLogger("qualitypulse.alerts")


def task_failure_notification(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    try_number: int,
    error: BaseException | str | None,
    log_url: str | None,
    owner: str,
) -> Notification:
    """What failed, in which run, after how many tries, why (secrets masked), and where the log is."""
    task = task_id if map_index < 0 else f"{task_id}[{map_index}]"
    reason = redact(str(error).strip().splitlines()[0] if error and str(error).strip() else "no error message")
    if isinstance(error, BaseException):
        reason = f"{type(error).__name__}: {reason}"
    tries = f"{try_number} {'try' if try_number == 1 else 'tries'}"
    key = hashlib.sha256(f"task_failure|{dag_id}|{task}|{run_id}".encode()).hexdigest()[:32]
    return Notification(
        key=key,
        kind="task_failure",
        severity="critical",
        subject=f"QualityPulse task failed: {dag_id}.{task}",
        text=(
            f"{dag_id}.{task} failed after {tries} in run {run_id}: {reason}. "
            "Its data waits in the landing zone and the ledger; clear the task once the cause is fixed."
        ),
        facts={"DAG": dag_id, "Task": task, "Run": run_id, "Tries": str(try_number), "Owner": owner},
        link=log_url,
    )


class TaskFailureNotifier(BaseNotifier):
    """Sends :func:`task_failure_notification` on the configured channels; never raises into Airflow."""

    def notify(self, context: Any) -> None:
        from qualitypulse.settings import get_settings

        ti = context["ti"]
        task = context.get("task")
        notification = task_failure_notification(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=getattr(ti, "map_index", -1),
            try_number=getattr(ti, "try_number", 0),
            error=context.get("exception"),
            log_url=getattr(ti, "log_url", None),
            owner=getattr(task, "owner", "") or "",
        )
        channels = configured_channels(get_settings().task_failure_channel_ids)
        if not channels:
            log.warning("%s (no alert channel configured)", notification.subject)
            return
        deliver(notification, channels)
