"""The notification outbox: what each incident and alert owes each channel, kept in the warehouse until it is taken.

``enqueue`` derives the notifications from the state of the alert tables, routed by severity to the channels of
``alerts/rules.yaml``, so enqueueing twice adds nothing:

- KPI alerts are told per incident (``alerts/incidents.py``), as one digest per incident and channel: ``opened``
  when it first has an open alert, listing its alerts; ``updated`` when alerts join it or resolve while it stays
  open (one per change set, however many alerts changed); ``resolved`` when every alert has. What the last digest
  told is kept on the incident (``notified_members``), so each update says what changed since. An incident that
  began and ended before anyone was told is history: recorded, not sent. The line owner's copy goes to the owners
  of every member line.
- Data-quality alerts: one row per alert, event (opened, resolved) and channel.

``deliver`` sends the pending rows; a channel that is down leaves its rows pending, with the error, for the next
run; a row that was sent is never sent again.

``enqueue_notification`` puts one ready-made notification in the same outbox: a task that failed for good
(``orchestration/notifiers.py``), one row per channel, keyed by the notification's key, so a repeat adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from alerts.channels import Channel, ChannelLookup, DeliveryFailed, Notification, redact
from alerts.headline import place_words, regressed_where
from alerts.incidents import severity_rank
from core.alert_rules import AlertConfig
from core.kpi_format import contributors_text
from warehouse.schema import FACT_TABLES, alert, data_quality_alert, incident, notification

log = logging.getLogger("qualitypulse.alerts")

INCIDENT, DATA_QUALITY = "kpi_incident", "data_quality"
ALERT_BEFORE_INCIDENTS = "kpi_regression"  # one notification per alert, before revision 0025
LISTED_ALERTS = 25  # a digest lists this many alerts, open ones first; the report has the rest


@dataclass(frozen=True)
class Delivery:
    sent: int
    pending: int
    errors: dict[str, str]  # channel -> the latest error


def _notification_id(kind: str, alert_id: str, event: str, channel: str) -> str:
    return hashlib.sha256(f"{kind}|{alert_id}|{event}|{channel}".encode()).hexdigest()[:32]


def enqueue(connection: Connection, config: AlertConfig, report_url: str, configured: set[str], now: datetime) -> int:
    """Add the notifications the incidents and alerts owe to ``configured`` channels; returns how many were added."""
    known = set(connection.scalars(select(notification.c.notification_id)))
    rows = _incident_digests(connection, config, report_url, configured, known, now)
    announced = set(
        connection.scalars(
            select(notification.c.alert_id).where(
                notification.c.alert_kind == DATA_QUALITY, notification.c.event == "opened"
            )
        )
    )
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


def _incident_digests(
    connection: Connection,
    config: AlertConfig,
    report_url: str,
    configured: set[str],
    known: set[str],
    now: datetime,
) -> list[dict[str, object]]:
    """The digests the incidents owe: per channel, ``opened`` first (with the incident as it is now), then an
    ``updated`` or ``resolved`` digest whenever its alerts' states differ from what the last digest told."""
    members: dict[str, list[dict[str, object]]] = {}
    for a in connection.execute(
        select(alert).where(alert.c.incident_id.is_not(None)).order_by(alert.c.since_date, alert.c.alert_id)
    ).mappings():
        members.setdefault(str(a["incident_id"]), []).append(dict(a))
    incidents = connection.execute(select(incident).order_by(incident.c.first_date, incident.c.incident_id))
    absorbed: dict[str, list[dict[str, object]]] = {}
    current: list[dict[str, object]] = []
    for row in incidents.mappings():
        if row["merged_into_id"] is None:
            current.append(dict(row))
        elif row["notified_members"]:
            absorbed.setdefault(str(row["merged_into_id"]), []).append(dict(row))
    legacy = _told_one_by_one(connection)
    owners = _line_owners(connection) if any(r.notify_owner for r in config.rules) else {}
    notify_owner = {r.name: bool(r.notify_owner) for r in config.rules}
    windows = {r.name: r.window_days for r in config.rules}
    rows: list[dict[str, object]] = []
    for i in current:
        group = members.get(str(i["incident_id"]), [])
        if not group:
            continue
        state = {str(a["alert_id"]): "resolved" if a["status"] == "resolved" else "open" for a in group}
        told, told_on = _told(i, group, legacy)
        if told is None and i["status"] == "resolved":
            continue  # history: it began and ended before anyone was told; the report shows it
        recipients = {
            owners[str(a["line_id"])] for a in group if notify_owner.get(str(a["rule_name"])) and a["line_id"] in owners
        }
        digest = _Digest(i, group, state, told or {}, absorbed.get(str(i["incident_id"]), []), report_url, windows)
        event = "resolved" if i["status"] == "resolved" else "updated"
        queued = []
        for channel in config.channels_for(str(i["severity"])):
            if channel not in configured:
                continue
            opened_id = _notification_id(INCIDENT, str(i["incident_id"]), "opened", channel)
            if opened_id not in known and channel not in told_on:
                if i["status"] != "resolved":  # never told on this channel, and over: nothing to say there
                    queued.append(_row(opened_id, "opened", digest.note("opened", recipients), channel, now))
            elif told is not None and state != told:
                changed_id = _notification_id(INCIDENT, str(i["incident_id"]), f"{event}|{digest.state_key}", channel)
                if changed_id not in known:
                    queued.append(_row(changed_id, event, digest.note(event, recipients), channel, now))
        if queued:
            known.update(str(r["notification_id"]) for r in queued)
            rows += queued
            connection.execute(
                update(incident)
                .where(incident.c.incident_id == i["incident_id"])
                .values(notified_members=json.dumps(state, sort_keys=True))
            )
    return rows


def _told(
    i: Mapping[str, object], group: list[dict[str, object]], legacy: dict[str, dict[str, set[str]]]
) -> tuple[dict[str, str] | None, set[str]]:
    """What the last digest told of the incident's alerts, and the channels told of it before digests existed.

    An incident formed from alerts that were announced one by one (before revision 0025) counts as announced on
    the channels that had them: its first digest there is an update, not a second announcement."""
    channels: set[str] = set()
    before: dict[str, str] = {}
    for a in group:
        events = legacy.get(str(a["alert_id"]), {})
        if "opened" in events:
            before[str(a["alert_id"])] = "resolved" if "resolved" in events else "open"
            channels |= events["opened"]
    if i["notified_members"]:
        return json.loads(str(i["notified_members"])), channels
    return (before or None), channels


def _told_one_by_one(connection: Connection) -> dict[str, dict[str, set[str]]]:
    """Alert id -> event -> channels, of the notifications queued one per alert before incidents."""
    out: dict[str, dict[str, set[str]]] = {}
    for row in connection.execute(
        select(notification.c.alert_id, notification.c.event, notification.c.channel).where(
            notification.c.alert_kind == ALERT_BEFORE_INCIDENTS
        )
    ):
        out.setdefault(row.alert_id, {}).setdefault(row.event, set()).add(row.channel)
    return out


class _Digest:
    """One incident's digest, worded for people: what changed, then its alerts, open and worst first."""

    def __init__(
        self,
        i: Mapping[str, object],
        group: list[dict[str, object]],
        state: dict[str, str],
        told: dict[str, str],
        absorbed: list[dict[str, object]],
        report_url: str,
        windows: dict[str, int],
    ) -> None:
        self.incident, self.group, self.state, self.told = i, group, state, told
        self.absorbed, self.report_url, self.windows = absorbed, report_url, windows
        self.state_key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]

    def note(self, event: str, recipients: set[str]) -> Notification:
        i, group = self.incident, self.group
        key = "opened" if event == "opened" else f"{event}|{self.state_key}"
        where = place_words(str(i["site_id"]), "ALL", "ALL")
        open_now = [a for a in group if self.state[str(a["alert_id"])] == "open"]
        alerts = f"{len(group)} alert{'s' if len(group) != 1 else ''}"
        if event == "opened":
            head = f"{alerts} at {where} since {i['first_date']}, {len(open_now)} open."
        elif event == "updated":
            head = f"{self._changes()} Now {len(open_now)} of {alerts} open."
        else:
            head = f"Every alert is back in control; {alerts} at {where} from {i['first_date']} to {i['last_date']}."
        subject = {"opened": "", "updated": "Updated: ", "resolved": "Resolved: "}[event] + str(i["title"])
        first_open = next((a for a in sorted(open_now, key=_worst_first)), None)
        link = None
        if self.report_url:
            anchor = f"alert-{first_open['alert_id']}" if first_open else "alerts-section"
            link = f"{self.report_url}#{anchor}"
        return Notification(
            key=_notification_id(INCIDENT, str(i["incident_id"]), key, ""),
            kind=INCIDENT,
            severity=str(i["severity"]),
            subject=redact(subject)[:200],
            text=redact("\n".join([head, "", *self._listing(event)])),
            facts={
                "Incident": str(i["incident_id"]),
                "Where": where,
                "Began": str(i["first_date"]),
                "Alerts": f"{len(group)} ({len(open_now)} open)",
                "Status": str(i["status"]),
            },
            link=link,
            recipients=tuple(sorted(recipients)),
        )

    def _changes(self) -> str:
        joined = [a for a in self.group if str(a["alert_id"]) not in self.told]
        back = [a for a in self.group if self.state[str(a["alert_id"])] == "resolved" and self.told.get(
            str(a["alert_id"])) == "open"]  # fmt: skip
        left = [a for a in self.told if a not in self.state]
        parts = []
        if joined:
            parts.append(f"Joined: {'; '.join(self._short(a) for a in joined)}.")
        if back:
            parts.append(f"Back in control: {'; '.join(self._short(a) for a in back)}.")
        merged = [m for m in self.absorbed if set(json.loads(str(m["notified_members"]))) & set(self.state)]
        for m in merged:
            parts.append(f"Incident {str(m['incident_id'])[:12]} ({m['title']}) is part of this one now.")
        if left:
            parts.append(f"{len(left)} alert{'s' if len(left) != 1 else ''} moved to another incident.")
        return " ".join(parts)

    def _short(self, a: Mapping[str, object]) -> str:
        """What regressed where, as the alert's headline begins (a rule no longer in the rules file: no window)."""
        window = self.windows.get(str(a["rule_name"]), 1)
        return regressed_where(str(a["kpi"]), window, str(a["site_id"]), str(a["line_id"]), str(a["step_id"]))

    def _listing(self, event: str) -> list[str]:
        ordered = sorted(self.group, key=lambda a: (self.state[str(a["alert_id"])] != "open", *_worst_first(a)))
        lines = []
        for a in ordered[:LISTED_ALERTS]:
            alert_id = str(a["alert_id"])
            marks = []
            if event == "updated" and alert_id not in self.told:
                marks.append("new")
            if self.state[alert_id] == "resolved":
                marks.append(f"back in control {a['resolved_date']}" if a["resolved_date"] else "resolved")
            mark = f" ({', '.join(marks)})" if marks else ""
            lines.append(f"- [{a['severity']}] {a['subject']}{mark}")
            contributors = json.loads(str(a["contributors"] or "[]"))
            drivers = f"{contributors_text(contributors, str(a['kpi']))} " if contributors else ""
            lines.append(f"  {drivers}Alert {alert_id[:12]}.")
        if len(ordered) > LISTED_ALERTS:
            lines.append(f"... and {len(ordered) - LISTED_ALERTS} more in the report.")
        return lines


def _worst_first(a: Mapping[str, object]) -> tuple[int, str, str]:
    return severity_rank(str(a["severity"])), str(a["since_date"]), str(a["alert_id"])


def _row(
    notification_id: str, event: str, note: Notification, channel: str, now: datetime, alert_id: str | None = None
) -> dict[str, object]:
    """One outbox row: ``alert_id`` is what it announces (an incident's id by default)."""
    return {
        "notification_id": notification_id,
        "alert_kind": note.kind,
        "alert_id": note.facts["Incident"] if alert_id is None else alert_id,
        "event": event,
        "channel": channel,
        "severity": note.severity,
        "payload": json.dumps(note.as_json()),
        "status": "pending",
        "attempts": 0,
        "created_at": now,
    }


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
        _row(notification_id, event, note, channel, now, alert_id=note.key)
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
