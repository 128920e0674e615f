"""The notification outbox: what each alert owes each channel, kept in the warehouse until the channel takes it.

``enqueue`` derives the notifications from the state of the alert tables (a KPI alert that opened, one that
resolved after it had been announced; the same for data-quality alerts), routed by severity to the channels of
``alerts/rules.yaml``, one row per alert, event and channel, so enqueueing twice adds nothing. ``deliver`` sends
the pending rows; a channel that is down leaves its rows pending, with the error, for the next run; a row that
was sent is never sent again.

``enqueue_notification`` puts one ready-made notification in the same outbox: a task that failed for good
(``orchestration/notifiers.py``), one row per channel, keyed by the notification's key, so a repeat adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from alerts.channels import Channel, ChannelLookup, DeliveryFailed, Notification, redact
from core.alert_rules import AlertConfig
from warehouse.schema import FACT_TABLES, alert, data_quality_alert, notification

log = logging.getLogger("qualitypulse.alerts")

KPI, DATA_QUALITY = "kpi_regression", "data_quality"


@dataclass(frozen=True)
class Delivery:
    sent: int
    pending: int
    errors: dict[str, str]  # channel -> the latest error


def _notification_id(kind: str, alert_id: str, event: str, channel: str) -> str:
    return hashlib.sha256(f"{kind}|{alert_id}|{event}|{channel}".encode()).hexdigest()[:32]


def enqueue(connection: Connection, config: AlertConfig, report_url: str, configured: set[str], now: datetime) -> int:
    """Add the notifications the alerts owe to ``configured`` channels; returns how many were added."""
    known = set(connection.scalars(select(notification.c.notification_id)))
    announced = set(connection.scalars(select(notification.c.alert_id).where(notification.c.event == "opened")))
    owners = _line_owners(connection) if any(r.notify_owner for r in config.rules) else {}
    notify_owner = {r.name: bool(r.notify_owner) for r in config.rules}
    rows = []
    for a in connection.execute(select(alert)).mappings():
        event = "opened" if a["status"] in ("open", "acknowledged") else "resolved"
        if event == "resolved" and a["alert_id"] not in announced:
            continue  # history: it began and ended before anyone was told; the report shows it
        subject = ("" if event == "opened" else "Resolved: ") + a["subject"]
        recipients = (owners.get(a["line_id"], ""),) if notify_owner.get(a["rule_name"]) else ()
        note = Notification(
            key=_notification_id(KPI, a["alert_id"], event, ""),
            kind=KPI,
            severity=a["severity"],
            subject=subject[:200],
            text=a["message"] if event == "opened" else f"Back in control since {a['resolved_date']}. {a['message']}",
            facts={
                "KPI": a["kpi"],
                "Where": f"{a['site_id']} / {a['line_id']} / {a['step_id']}",
                "Began": str(a["since_date"]),
                "Rule": a["rule"],
                "Status": a["status"],
                "Alert": a["alert_id"],
            },
            link=f"{report_url}#alert-{a['alert_id']}" if report_url else None,
            recipients=tuple(r for r in recipients if r),
        )
        rows += _rows_for(KPI, a["alert_id"], event, a["severity"], note, config, configured, known, now)
    for a in connection.execute(select(data_quality_alert)).mappings():
        occurrence = f"{a['alert_id']}@{a['first_seen_at']:%Y%m%dT%H%M%S}"  # a warning that comes back is news
        event = "opened" if a["status"] == "open" else "resolved"
        if event == "resolved" and occurrence not in announced:
            continue
        note = Notification(
            key=_notification_id(DATA_QUALITY, occurrence, event, ""),
            kind=DATA_QUALITY,
            severity=a["severity"],
            subject=("" if event == "opened" else "Resolved: ") + f"Data quality: {a['dataset']}: {a['rule']}"[:180],
            text=a["message"],
            facts={"Dataset": a["dataset"], "Kind": a["kind"], "Batches": str(a["occurrences"])},
            link=f"{report_url}#data-quality" if report_url else None,
        )
        rows += _rows_for(DATA_QUALITY, occurrence, event, a["severity"], note, config, configured, known, now)
    if rows:
        connection.execute(insert(notification), rows)
    return len(rows)


def enqueue_notification(
    connection: Connection, note: Notification, event: str, channels: Iterable[str], now: datetime
) -> int:
    """Queue ``note`` (already built: a task failure, say) for each of ``channels``; returns how many rows were new.

    ``note.key`` is the alert id, so the same notification queued twice (a callback that runs again) is one row
    per channel.
    """
    ids = {channel: _notification_id(note.kind, note.key, event, channel) for channel in channels}
    queued = select(notification.c.notification_id).where(notification.c.notification_id.in_(list(ids.values())))
    known = set(connection.scalars(queued))
    rows = [
        {
            "notification_id": notification_id,
            "alert_kind": note.kind,
            "alert_id": note.key,
            "event": event,
            "channel": channel,
            "severity": note.severity,
            "payload": json.dumps(note.as_json()),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for channel, notification_id in ids.items()
        if notification_id not in known
    ]
    if rows:
        connection.execute(insert(notification), rows)
    return len(rows)


def _rows_for(
    kind: str,
    alert_id: str,
    event: str,
    severity: str,
    note: Notification,
    config: AlertConfig,
    configured: set[str],
    known: set[str],
    now: datetime,
) -> list[dict[str, object]]:
    rows = []
    for channel in config.channels_for(severity):
        notification_id = _notification_id(kind, alert_id, event, channel)
        if channel not in configured or notification_id in known:
            continue
        rows.append(
            {
                "notification_id": notification_id,
                "alert_kind": kind,
                "alert_id": alert_id,
                "event": event,
                "channel": channel,
                "severity": severity,
                "payload": json.dumps(note.as_json()),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
        )
        known.add(notification_id)
    return rows


def _line_owners(connection: Connection) -> dict[str, str]:
    lines = FACT_TABLES["lines"]
    return {
        r.line_id: r.owner_email
        for r in connection.execute(select(lines.c.line_id, lines.c.owner_email))
        if r.owner_email
    }


def deliver(
    engine: Engine, channels: dict[str, Channel], now: datetime, other_channels: ChannelLookup | None = None
) -> Delivery:
    """Send every pending notification on its channel; each outcome is committed at once, so none is sent twice.

    A row is claimed before it is sent (its attempt count moves on only if no one else moved it first), so two
    deliveries at once (a failure callback and ``qp notify``, say) never send the same row both. A pending row for
    a channel not in ``channels`` (a task-failure channel the alert rules don't route to) is sent on the channel
    ``other_channels`` finds for it, if any. A crash between sending and recording leaves the row pending: it is
    sent again, with the same Idempotency-Key, so a receiver can drop the repeat.
    """
    with engine.connect() as connection:
        pending = connection.execute(
            select(
                notification.c.notification_id, notification.c.channel, notification.c.payload, notification.c.attempts
            )
            .where(notification.c.status == "pending")
            .order_by(notification.c.created_at, notification.c.notification_id)
        ).all()
    others = {row.channel for row in pending} - set(channels)
    if others and other_channels is not None:
        channels = {**channels, **other_channels(others)}
    sent, errors = 0, {}
    for row in pending:
        channel = channels.get(row.channel)
        if channel is None:
            errors[row.channel] = f"{row.channel}: the connection is not defined"
            continue
        if row.channel in errors:
            continue  # down on this run already: don't hammer it, try again next run
        if not _claim(engine, row.notification_id, row.attempts, now):
            continue  # another delivery took it
        try:
            channel.send(Notification.from_json(json.loads(row.payload)))
        except DeliveryFailed as error:
            errors[row.channel] = redact(str(error))
            with engine.begin() as connection:
                connection.execute(
                    update(notification)
                    .where(notification.c.notification_id == row.notification_id)
                    .values(last_error=errors[row.channel])
                )
            log.error("notification %s stays pending: %s", row.notification_id, errors[row.channel])
            continue
        with engine.begin() as connection:
            connection.execute(
                update(notification)
                .where(notification.c.notification_id == row.notification_id)
                .values(status="sent", sent_at=now, last_error=None)
            )
        sent += 1
    return Delivery(sent, len(pending) - sent, errors)


def _claim(engine: Engine, notification_id: str, attempts_seen: int, now: datetime) -> bool:
    """Count an attempt on a pending row, unless another delivery counted one since we read it."""
    with engine.begin() as connection:
        claimed = connection.execute(
            update(notification)
            .where(
                notification.c.notification_id == notification_id,
                notification.c.status == "pending",
                notification.c.attempts == attempts_seen,
            )
            .values(attempts=attempts_seen + 1, last_attempt_at=now)
        )
    return claimed.rowcount == 1
