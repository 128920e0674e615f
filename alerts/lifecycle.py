"""Alerts in the warehouse: an episode becomes one alert that opens, updates, and resolves; people acknowledge it.

``reconcile`` brings the ``alert`` table in line with the episodes the rules find in the KPI history: a new
episode is inserted (open, or already resolved when it is history), an open one is updated by its later adverse
days and resolved when the rule says so, and an open alert whose episode is gone (its days were corrected by a
replay or backfill) is resolved too. Acknowledged alerts stay acknowledged until they resolve.

``reconcile_incidents`` then groups the alerts into incidents (``alerts/incidents.py``) and keeps the ``incident``
table in line with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, delete, insert, select, update

from alerts.evaluate import Episode
from alerts.headline import alert_text
from alerts.incidents import Member, group_incidents
from warehouse.schema import alert, alert_note, baseline_exclusion, incident, spc_point, training_lead


def describe(episode: Episode) -> tuple[str, str]:
    """The alert's subject line and message (``alerts.headline``)."""
    text = alert_text(episode)
    return text.subject, text.message


@dataclass
class Changes:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # episodes that began and ended before they were first seen


def reconcile(connection: Connection, episodes: list[Episode], now: datetime, pipeline_run_id: str) -> Changes:
    """Insert, update and resolve alerts so the table matches ``episodes``; returns what changed (by alert id)."""
    existing = {row.alert_id: row._mapping for row in connection.execute(select(alert))}
    changes = Changes()
    seen = set()
    for episode in episodes:
        seen.add(episode.alert_id)
        text = alert_text(episode)
        values = {
            "last_date": episode.last_date,
            "days_adverse": episode.days_adverse,
            "value": episode.value,
            "centre_line": episode.centre,
            "limit_value": episode.limit,
            "sample_size": episode.sample_size,
            "rule": text.rule,
            "contributors": json.dumps(episode.contributors),
            "subject": text.subject,
            "message": text.message,
            "updated_at": now,
            "pipeline_run_id": pipeline_run_id,
        }
        row = existing.get(episode.alert_id)
        unchanged = row is not None and all(
            row[k] == v for k, v in values.items() if k not in ("updated_at", "pipeline_run_id")
        )
        if row is None:
            status = "resolved" if episode.resolved_date else "open"
            connection.execute(
                insert(alert).values(
                    alert_id=episode.alert_id,
                    fingerprint=episode.fingerprint,
                    rule_name=episode.rule.name,
                    kpi=episode.rule.kpi,
                    method=episode.rule.method,
                    severity=episode.rule.severity,
                    site_id=episode.site_id,
                    line_id=episode.line_id,
                    step_id=episode.step_id,
                    since_date=episode.since_date,
                    status=status,
                    resolved_date=episode.resolved_date,
                    raised_at=now,
                    resolved_at=now if episode.resolved_date else None,
                    **values,
                )
            )
            (changes.history if episode.resolved_date else changes.opened).append(episode.alert_id)
        elif row["status"] != "resolved" and not (unchanged and not episode.resolved_date):
            if episode.resolved_date:
                values.update(status="resolved", resolved_date=episode.resolved_date, resolved_at=now)
                changes.resolved.append(episode.alert_id)
            else:
                changes.updated.append(episode.alert_id)
            connection.execute(update(alert).where(alert.c.alert_id == episode.alert_id).values(**values))
    vanished = [a for a, row in existing.items() if row["status"] != "resolved" and a not in seen]
    if vanished:
        # The days that raised it were corrected (a replay, a backfill): nothing regresses there any more.
        connection.execute(
            update(alert)
            .where(alert.c.alert_id.in_(vanished))
            .values(status="resolved", resolved_at=now, updated_at=now, pipeline_run_id=pipeline_run_id)
        )
        changes.resolved += vanished
    return changes


@dataclass
class IncidentChanges:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # alerts joined or left, or it resolved or opened again
    merged: dict[str, str] = field(default_factory=dict)  # incident -> the one a bridging alert merged it into


def reconcile_incidents(connection: Connection, gap_days: int, now: datetime, pipeline_run_id: str) -> IncidentChanges:
    """Group the alerts into incidents (``alerts/incidents.py``) and bring the ``incident`` table and each alert's
    ``incident_id`` in line; an incident no group keeps (a later alert bridged it into an older one) is resolved
    and names the incident that took its alerts."""
    rows = [dict(r) for r in connection.execute(select(alert)).mappings()]
    previous = {str(r["alert_id"]): str(r["incident_id"]) for r in rows if r["incident_id"]}
    groups = group_incidents([Member.of(r) for r in rows], gap_days, previous)
    existing = {r.incident_id: r._mapping for r in connection.execute(select(incident))}
    changes = IncidentChanges()
    for group in groups:
        values = {
            "site_id": group.site_id,
            "first_date": group.first_date,
            "last_date": group.last_date,
            "status": group.status,
            "severity": group.severity,
            "title": group.title,
            "alert_count": len(group.members),
            "open_alert_count": group.open_count,
            "merged_into_id": None,
        }
        row = existing.get(group.incident_id)
        if row is None:
            connection.execute(
                insert(incident).values(
                    incident_id=group.incident_id,
                    **values,
                    pipeline_run_id=pipeline_run_id,
                    opened_at=now,
                    updated_at=now,
                    resolved_at=now if group.status == "resolved" else None,
                )
            )
            changes.opened.append(group.incident_id)
        elif any(_differs(row[k], v) for k, v in values.items()):
            resolved_at = (row["resolved_at"] or now) if group.status == "resolved" else None
            connection.execute(
                update(incident)
                .where(incident.c.incident_id == group.incident_id)
                .values(**values, pipeline_run_id=pipeline_run_id, updated_at=now, resolved_at=resolved_at)
            )
            changes.updated.append(group.incident_id)
        moved = [m.alert_id for m in group.members if previous.get(m.alert_id) != group.incident_id]
        if moved:
            connection.execute(update(alert).where(alert.c.alert_id.in_(moved)).values(incident_id=group.incident_id))
    kept = {g.incident_id for g in groups}
    holder = {m.alert_id: g.incident_id for g in groups for m in g.members}
    since = {str(r["alert_id"]): r["since_date"] for r in rows}
    for incident_id, row in existing.items():
        if incident_id in kept:
            continue
        # Its alerts are in other incidents now: the one that holds its earliest alert took it over.
        former = sorted((since[a], a) for a, i in previous.items() if i == incident_id)
        into = holder[former[0][1]] if former else row["merged_into_id"]
        if (row["status"], row["alert_count"], row["merged_into_id"]) == ("resolved", 0, into):
            continue
        connection.execute(
            update(incident)
            .where(incident.c.incident_id == incident_id)
            .values(
                status="resolved",
                alert_count=0,
                open_alert_count=0,
                merged_into_id=into,
                updated_at=now,
                resolved_at=row["resolved_at"] or now,
                pipeline_run_id=pipeline_run_id,
            )
        )
        if into is not None:
            changes.merged[incident_id] = into
    return changes


def _differs(stored: object, value: object) -> bool:
    if isinstance(value, date) and stored is not None:
        return pd.Timestamp(stored).date() != value  # type: ignore[arg-type]
    return stored != value


def acknowledge(connection: Connection, prefix: str, by: str, now: datetime) -> dict[str, object]:
    """Mark the open alert whose id starts with ``prefix`` (see :func:`find_alert`) acknowledged by a person;
    returns the alert."""
    found = find_alert(connection, prefix)
    if found["status"] != "open":
        raise AlertNotFound(
            f"alert {str(found['alert_id'])[:12]} is {found['status']}, not open: nothing to acknowledge"
        )
    connection.execute(
        update(alert)
        .where(alert.c.alert_id == found["alert_id"])
        .values(status="acknowledged", acknowledged_by=by, acknowledged_at=now, updated_at=now)
    )
    return found


def replace_spc_points(connection: Connection, points: pd.DataFrame, now: datetime) -> None:
    """Store every judged day of every rule (the control charts as the rules saw them), replacing the last check's."""
    connection.execute(delete(spc_point))
    if points.empty:
        return
    rows = points.rename(columns={"centre": "centre_line", "lower": "lower_limit", "upper": "upper_limit"}).assign(
        computed_at=now, fired=points["fired"].str.slice(0, 120)
    )
    columns = [c.name for c in spc_point.columns]
    connection.execute(insert(spc_point), rows[columns].to_dict("records"))


def replace_training_leads(connection: Connection, relations: pd.DataFrame, now: datetime) -> None:
    """Store each line's training-to-outcome relation (``alerts.leading.line_relations``), replacing the last one."""
    connection.execute(delete(training_lead))
    if relations.empty:
        return
    rows = relations.astype(object).where(relations.notna(), None).assign(computed_at=now)
    connection.execute(insert(training_lead), rows.to_dict("records"))


# --- triage: who works on an alert, its cause and corrective action, notes, and days out of the baselines -------

MIN_ID_PREFIX = 6  # an id prefix shorter than this picks an alert by accident too easily


class AlertNotFound(LookupError):
    """No alert, or several, match the id prefix given; the message says which."""


def find_alert(connection: Connection, prefix: str) -> dict[str, object]:
    """The one alert whose id starts with ``prefix`` (at least ``MIN_ID_PREFIX`` characters)."""
    if len(prefix) < MIN_ID_PREFIX:
        raise AlertNotFound(f"give at least {MIN_ID_PREFIX} characters of the alert id, not {prefix!r}")
    matches = connection.execute(select(alert).where(alert.c.alert_id.startswith(prefix))).mappings().all()
    if not matches:
        raise AlertNotFound(f"no alert with an id starting {prefix!r} (qp alerts list --all)")
    if len(matches) > 1:
        raise AlertNotFound(f"{len(matches)} alerts have ids starting {prefix!r}: give more characters")
    return dict(matches[0])


def assign(connection: Connection, prefix: str, assignee: str, now: datetime) -> dict[str, object]:
    """Give the alert to ``assignee``; returns the alert."""
    found = find_alert(connection, prefix)
    connection.execute(
        update(alert).where(alert.c.alert_id == found["alert_id"]).values(assignee=assignee, triaged_at=now)
    )
    return found


def set_cause(
    connection: Connection,
    prefix: str,
    cause: str | None,
    action: str | None,
    allowed: tuple[list[str], list[str]],
    now: datetime,
) -> dict[str, object]:
    """Record the assignable cause and the corrective action, codes from the rules file's ``triage`` lists."""
    causes, actions = allowed
    for code, known, what in ((cause, causes, "cause"), (action, actions, "action")):
        if code is not None and code not in known:
            raise ValueError(f"unknown {what} code {code!r}; the rules file's triage list has: {', '.join(known)}")
    if cause is None and action is None:
        raise ValueError("give a cause code, an action code, or both")
    found = find_alert(connection, prefix)
    values: dict[str, object] = {"triaged_at": now}
    if cause is not None:
        values["cause_code"] = cause
    if action is not None:
        values["action_code"] = action
    connection.execute(update(alert).where(alert.c.alert_id == found["alert_id"]).values(**values))
    return found


def add_note(connection: Connection, prefix: str, note: str, author: str, now: datetime) -> dict[str, object]:
    if not note.strip():
        raise ValueError("a note needs some text")
    found = find_alert(connection, prefix)
    connection.execute(insert(alert_note).values(alert_id=found["alert_id"], noted_at=now, author=author, note=note))
    return found


def exclude_day(
    connection: Connection, prefix: str, day: date, reason: str, by: str, now: datetime
) -> dict[str, object]:
    """Take ``day`` out of the baselines of the alert's rule at its place, from the next check on: a day with a
    known assignable cause that would otherwise widen the limits of the days after it (days a rule flags in the
    adverse direction or beyond 3 sigma are left out already). It must be a day the rule judged there, up to the
    alert's latest adverse day."""
    found = find_alert(connection, prefix)
    key = {k: found[k] for k in ("rule_name", "site_id", "line_id", "step_id")}
    last = pd.Timestamp(found["last_date"]).date()  # type: ignore[arg-type]
    judged = connection.scalar(
        select(spc_point.c.kpi_date).where(*(spc_point.c[k] == v for k, v in key.items()), spc_point.c.kpi_date == day)
    )
    if day > last or judged is None:
        raise ValueError(f"{day} is not a day {found['rule_name']} judged at this place up to {last}")
    place = [baseline_exclusion.c[k] == v for k, v in key.items()]
    connection.execute(delete(baseline_exclusion).where(*place, baseline_exclusion.c.kpi_date == day))
    connection.execute(
        insert(baseline_exclusion).values(
            **key, kpi_date=day, alert_id=found["alert_id"], reason=reason, excluded_by=by, excluded_at=now
        )
    )
    return found


def exclusions(connection: Connection) -> dict[tuple[str, str, str, str], set[date]]:
    """Days excluded by hand, per (rule, site, line, step)."""
    out: dict[tuple[str, str, str, str], set[date]] = {}
    for row in connection.execute(select(baseline_exclusion)):
        out.setdefault((row.rule_name, row.site_id, row.line_id, row.step_id), set()).add(
            pd.Timestamp(row.kpi_date).date()
        )
    return out
