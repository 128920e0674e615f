"""Airflow notifiers: a task that fails for good, or a run that misses its deadline, tells the people who run the
pipeline, on the alert channels.

Attached to every QualityPulse task through ``DEFAULT_ARGS`` (``on_failure_callback``), so it fires after the
last retry, in the worker that ran the task. Which channels: ``QP_TASK_FAILURE_CHANNELS`` (connection ids,
comma-separated; the ones defined are used, see ``alerts/channels.py``).

The notification goes through the warehouse's notification outbox, like the alerts' (``alerts/outbox.py``): it is
queued, one row per channel, then every pending notification is delivered. A channel that is down gets it later,
exactly once: from the next ``send_notifications`` (``qp_kpis``, ``qp notify``) or the next failure. Only when the
warehouse itself can't take it (unreachable, or not migrated) is it sent directly, without a retry later.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from alerts.channels import Channel, Notification, redact
from alerts.channels import deliver as deliver_now
from orchestration.connections import configured_channels

if TYPE_CHECKING:
    from alerts.outbox import Delivery

log = logging.getLogger(__name__)


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
    # One failure, one key: the callback running again adds nothing; the task failing again after a clear is news.
    key = hashlib.sha256(f"task_failure|{dag_id}|{task}|{run_id}|{try_number}".encode()).hexdigest()[:32]
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
    """Queues :func:`task_failure_notification` in the outbox and delivers what is pending."""

    def notify(self, context: Any) -> None:
        from core.settings import get_settings

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
        settings = get_settings()
        channels = configured_channels(settings.task_failure_channel_ids)
        if not channels:
            log.warning("%s (no alert channel configured)", notification.subject)
            return
        notify_through_outbox(notification, channels, settings.warehouse_url)


def deadline_missed_notification(
    dag_id: str, run_id: str, queued_at: str | None, deadline_time: str, state: str | None, link: str | None
) -> Notification:
    """A run that was not done by its deadline: which, queued when, due when, and where it stands."""
    key = hashlib.sha256(f"deadline_missed|{dag_id}|{run_id}|{deadline_time}".encode()).hexdigest()[:32]
    return Notification(
        key=key,
        kind="deadline_missed",
        severity="warning",
        subject=f"QualityPulse run late: {dag_id}",
        text=(
            f"{dag_id} run {run_id} was not done by its deadline {deadline_time} (queued {queued_at or 'unknown'}; "
            f"now {state or 'unknown'}). Its data is late: look at the run in Airflow (a stuck task, a full pool, "
            "a slow source)."
        ),
        facts={
            "DAG": dag_id,
            "Run": run_id,
            "Queued": queued_at or "",
            "Deadline": deadline_time,
            "State": state or "",
        },
        link=link,
    )


class DeadlineMissedNotifier(BaseNotifier):
    """A DeadlineAlert's callback (``orchestration.dag_defaults.deadline_alert``): tells the task-failure channels.

    Airflow runs it in the triggerer (an ``AsyncCallback``), with the context the scheduler gave the missed deadline:
    ``{"dag_run": <the run, as the REST API shows it>, "deadline": {"id": ..., "deadline_time": ...}}``. The
    delivery (the warehouse's outbox, then the channels) is blocking I/O, so it runs in a thread, off the
    triggerer's event loop.
    """

    async def async_notify(self, context: Any) -> None:
        import asyncio

        await asyncio.to_thread(notify_deadline_missed, dict(context))


def notify_deadline_missed(context: dict[str, Any]) -> Delivery | None:
    """Queue and deliver the notification of a missed deadline, from the context Airflow gives its callback."""
    from airflow.configuration import conf

    from core.settings import get_settings

    run = context.get("dag_run") or {}
    dag_id, run_id = str(run.get("dag_id", "")), str(run.get("dag_run_id") or run.get("run_id") or "")
    base_url = conf.get("api", "base_url", fallback="").rstrip("/")
    notification = deadline_missed_notification(
        dag_id=dag_id,
        run_id=run_id,
        queued_at=str(run["queued_at"]) if run.get("queued_at") else None,
        deadline_time=str((context.get("deadline") or {}).get("deadline_time", "")),
        state=str(run["state"]) if run.get("state") else None,
        link=f"{base_url}/dags/{dag_id}/runs/{run_id}" if base_url and dag_id else None,
    )
    settings = get_settings()
    channels = configured_channels(settings.task_failure_channel_ids)
    if not channels:
        log.warning("%s (no alert channel configured)", notification.subject)
        return None
    return notify_through_outbox(notification, channels, settings.warehouse_url)


def notify_through_outbox(
    notification: Notification, channels: dict[str, Channel], warehouse_url: str
) -> Delivery | None:
    """Queue ``notification`` for ``channels`` in the warehouse's outbox, then deliver every pending notification.

    Returns the delivery, or None when the warehouse could not take the notification and it was sent directly.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from alerts.outbox import deliver, enqueue_notification
    from core.engine import Warehouse
    from warehouse.ledger import utcnow

    with Warehouse(warehouse_url) as warehouse:
        engine = warehouse.engine
        try:
            with engine.begin() as connection:
                queued = enqueue_notification(connection, notification, "failed", channels, utcnow())
        except SQLAlchemyError as error:
            log.warning(
                "%s: the warehouse's notification outbox can't take it (%s); sending directly, so a channel that is "
                "down now won't get it later",
                notification.subject,
                _reason(error),
            )
            outcome = deliver_now(notification, channels)
            log.info("%s: sent directly on %s", notification.subject, [c for c, e in outcome.items() if e is None])
            return None
        try:
            delivery = deliver(engine, channels, utcnow(), configured_channels)
        except SQLAlchemyError as error:
            log.error("%s: queued; delivery stopped (%s): the next one sends it", notification.subject, _reason(error))
            return None
    log.warning(
        "%s: queued for %d channel(s) (%d new); %d notification(s) sent, %d pending",
        notification.subject,
        len(channels),
        queued,
        delivery.sent,
        delivery.pending,
    )
    for channel_error in delivery.errors.values():
        log.warning("pending until the next delivery: %s", channel_error)
    return delivery


def _reason(error: BaseException) -> str:
    """The first line of a database error (SQLAlchemy appends the statement and a link), credentials masked."""
    cause = getattr(error, "orig", None) or error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return redact(f"{type(cause).__name__}: {first_line}")
