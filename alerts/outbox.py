"""The notification outbox: what each alert owes each channel, kept in the warehouse until the channel takes it.

``enqueue`` derives the notifications from the state of the alert tables (a KPI alert that opened, one that
resolved after it had been announced; the same for data-quality alerts), routed by severity to the channels of
``alerts/rules.yaml``, one row per alert, event and channel, so enqueueing twice adds nothing. ``deliver`` sends
the pending rows; a channel that is down leaves its rows pending, with the error, for the next run; a row that
was sent is never sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from alerts.channels import Channel, DeliveryFailed, Notification
from alerts.config import AlertConfig
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


def deliver(engine: Engine, channels: dict[str, Channel], now: datetime) -> Delivery:
    """Send every pending notification on its channel; each outcome is committed at once, so none is sent twice."""
    with engine.connect() as connection:
        pending = connection.execute(
            select(notification.c.notification_id, notification.c.channel, notification.c.payload)
            .where(notification.c.status == "pending")
            .order_by(notification.c.created_at, notification.c.notification_id)
        ).all()
    sent, errors = 0, {}
    for row in pending:
        channel = channels.get(row.channel)
        if channel is None:
            errors[row.channel] = f"{row.channel}: the connection is not defined"
            continue
        if row.channel in errors:
            continue  # down on this run already: don't hammer it, try again next run
        try:
            channel.send(Notification.from_json(json.loads(row.payload)))
        except DeliveryFailed as error:
            errors[row.channel] = str(error)
            with engine.begin() as connection:
                connection.execute(
                    update(notification)
                    .where(notification.c.notification_id == row.notification_id)
                    .values(attempts=notification.c.attempts + 1, last_error=str(error), last_attempt_at=now)
                )
            log.error("notification %s stays pending: %s", row.notification_id, error)
            continue
        with engine.begin() as connection:
            connection.execute(
                update(notification)
                .where(notification.c.notification_id == row.notification_id)
                .values(status="sent", attempts=notification.c.attempts + 1, sent_at=now, last_attempt_at=now)
            )
        sent += 1
    return Delivery(sent, len(pending) - sent, errors)
