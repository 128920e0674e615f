"""Group KPI alerts into incidents: the alerts of one site whose active days overlap, or come within a gap.

A production problem shows first on a line and then, days later, in its site's complaints, NPS and cost of poor
quality. Told as one alert per rule, a quality manager gets four messages about one problem; grouped, one incident
with a timeline. Everything here is a pure function of the alerts: a rerun on the same alerts finds the same
incidents with the same ids.

- **Place.** An alert belongs to its site: a line's or a step's alert to the site of the line. Company-wide alerts
  (site ``ALL``) group only with each other.
- **Time.** An alert is active from its first adverse day to the day it counted as back in control (its latest
  adverse day while it lasts, or when it was resolved without a day: its days were corrected away). Two alerts of a
  site join when one begins no more than ``gap_days`` after the other ends (``incidents.gap_days`` in the rules
  file, 7 by default: customer effects lag production). Joining is transitive: the incident is the chain.
- **Identity.** An incident's id derives from its earliest member alert (first day, then alert id), so a new alert
  joining it keeps the id. Given the previous grouping (alert id -> incident id), an incident keeps the id it had
  even when an alert that began earlier joins it later (a backfill, a pooled rule that flags a day late).
- **Bridging.** A later alert whose days reach two incidents of its site makes them one. The merged incident keeps
  the id of the one that held the earliest member; the other id is no longer any group's (the warehouse keeps its
  row, resolved, with ``merged_into_id``), and its alerts are told as joining the surviving incident.
- **Resolution.** An incident is resolved when every member is; an alert that later joins it opens it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import get_args

from core.alert_rules import Severity
from core.kpi_registry import REGISTRY

SEVERITIES: tuple[str, ...] = get_args(Severity)  # worst first
COMPANY = "ALL"
TITLE_LENGTH = 200


@dataclass(frozen=True)
class Member:
    """What grouping needs of one alert."""

    alert_id: str
    kpi: str
    severity: str
    site_id: str
    line_id: str
    step_id: str
    since_date: date
    end_date: date  # resolved_date, else last_date
    resolved: bool

    @classmethod
    def of(cls, alert: Mapping[str, object]) -> Member:
        """The member an ``alert`` row is: active to the day it counted as back in control, else its latest adverse
        day (also when its days were corrected away and it resolved without such a day)."""
        return cls(
            alert_id=str(alert["alert_id"]),
            kpi=str(alert["kpi"]),
            severity=str(alert["severity"]),
            site_id=str(alert["site_id"]),
            line_id=str(alert["line_id"]),
            step_id=str(alert["step_id"]),
            since_date=_day(alert["since_date"]),
            end_date=_day(alert["resolved_date"] or alert["last_date"]),
            resolved=alert["status"] == "resolved",
        )


@dataclass(frozen=True)
class Incident:
    incident_id: str
    site_id: str
    members: tuple[Member, ...]  # by first day, then alert id

    @property
    def first_date(self) -> date:
        return min(m.since_date for m in self.members)

    @property
    def last_date(self) -> date:
        return max(m.end_date for m in self.members)

    @property
    def status(self) -> str:
        return "resolved" if all(m.resolved for m in self.members) else "open"

    @property
    def severity(self) -> str:
        return min((m.severity for m in self.members), key=severity_rank)

    @property
    def open_count(self) -> int:
        return sum(not m.resolved for m in self.members)

    @property
    def title(self) -> str:
        return title_of(self.site_id, self.members)


def incident_id_of(alert_id: str) -> str:
    """The id of an incident whose earliest member is ``alert_id``."""
    return hashlib.sha256(f"incident|{alert_id}".encode()).hexdigest()[:32]


def group_incidents(
    members: Iterable[Member], gap_days: int, previous: Mapping[str, str] | None = None
) -> list[Incident]:
    """The incidents ``members`` form, by first day; ``previous`` maps alert ids to the incident ids they had."""
    by_site: dict[str, list[Member]] = {}
    for member in sorted(members, key=lambda m: (m.since_date, m.alert_id)):
        by_site.setdefault(member.site_id, []).append(member)
    gap = timedelta(days=gap_days)
    clusters: list[list[Member]] = []
    for ordered in by_site.values():
        current: list[Member] = []
        reach = date.min
        for member in ordered:
            if current and member.since_date > reach + gap:
                clusters.append(current)
                current = []
            current.append(member)
            reach = max(reach, member.end_date) if len(current) > 1 else member.end_date
        clusters.append(current)
    clusters.sort(key=lambda c: (c[0].since_date, c[0].alert_id))
    taken: set[str] = set()
    incidents = []
    for cluster in clusters:
        incident_id = _id_for(cluster, previous or {}, taken)
        taken.add(incident_id)
        incidents.append(Incident(incident_id, cluster[0].site_id, tuple(cluster)))
    return incidents


def _id_for(cluster: list[Member], previous: Mapping[str, str], taken: set[str]) -> str:
    """The id the cluster's earliest previously grouped member had, unless an earlier cluster kept it (the grouping
    split: a smaller gap); else one from its earliest member."""
    for member in cluster:
        kept = previous.get(member.alert_id)
        if kept and kept not in taken:
            return kept
    incident_id = incident_id_of(cluster[0].alert_id)
    while incident_id in taken:
        incident_id = hashlib.sha256(incident_id.encode()).hexdigest()[:32]
    return incident_id


def title_of(site_id: str, members: Iterable[Member]) -> str:
    """``S1: fraction defective on S1-L2, NPS, CSAT``: the place, then what regressed, worst and earliest first."""
    ordered = sorted(members, key=lambda m: (severity_rank(m.severity), m.since_date, m.alert_id))
    phrases = list(dict.fromkeys(_phrase(m) for m in ordered))
    head = f"{'Company' if site_id == COMPANY else site_id}: "
    shown: list[str] = []
    for i, phrase in enumerate(phrases):
        rest = len(phrases) - i - 1
        tail = f" and {rest} more" if rest else ""
        if shown and len(head + ", ".join([*shown, phrase]) + tail) > TITLE_LENGTH:
            return head + ", ".join(shown) + f" and {rest + 1} more"
        shown.append(phrase)
    return (head + ", ".join(shown))[:TITLE_LENGTH]


def _phrase(member: Member) -> str:
    label = REGISTRY[member.kpi].narrow_label if member.kpi in REGISTRY else member.kpi.replace("_", " ")
    if label[1:2].islower():  # "Fraction defective" -> "fraction defective"; "NPS" stays
        label = label[0].lower() + label[1:]
    if member.step_id != COMPANY:
        return f"{label} on {member.step_id} of {member.line_id}"
    if member.line_id != COMPANY:
        return f"{label} on {member.line_id}"
    return label


def _day(value: object) -> date:
    return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]


def severity_rank(severity: str) -> int:
    """0 for the worst severity."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
