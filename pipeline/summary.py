"""The run summary a user reads after ``make run``: ledger, KPIs with their trend, alerts, locations."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from core.engine import Warehouse
from core.kpi_format import contributors_text
from core.kpi_registry import REGISTRY, Kpi
from core.records import ALL
from core.redaction import redact
from core.settings import Settings
from transforms.capability import MIN_RUNS, capability_reading
from warehouse.schema import (
    alert,
    batch_ledger,
    data_quality_alert,
    extraction_event,
    incident,
    kpi_daily,
    kpi_hold,
    notification,
    process_capability,
    quarantine,
    source_freshness,
    validation_result,
)


def ledger_totals(engine: Engine) -> pd.DataFrame:
    query = (
        select(
            batch_ledger.c.dataset,
            func.count().label("batches"),
            func.sum(batch_ledger.c.rows_extracted).label("extracted"),
            func.sum(batch_ledger.c.rows_loaded).label("loaded"),
            func.sum(batch_ledger.c.rows_updated).label("updated"),
            func.sum(batch_ledger.c.rows_quarantined).label("quarantined"),
            func.sum(batch_ledger.c.rows_duplicate).label("duplicates"),
            func.sum((batch_ledger.c.status == "blocked").cast(type_=batch_ledger.c.rows_loaded.type)).label("blocked"),
        )
        .group_by(batch_ledger.c.dataset)
        .order_by(batch_ledger.c.dataset)
    )
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


def kpi_trend(engine: Engine, kpi: str, line_id: str = ALL, recent_days: int = 7, baseline_days: int = 28) -> dict:
    """A KPI on its latest day, over the last ``recent_days`` and over the ``baseline_days`` before them.

    Company-wide by default, or for one line. Period values come from summed numerators and denominators.
    """
    query = select(kpi_daily.c.kpi_date, kpi_daily.c.numerator, kpi_daily.c.denominator).where(
        kpi_daily.c.kpi == kpi, kpi_daily.c.line_id == line_id, kpi_daily.c.step_id == ALL
    )
    if line_id == ALL:
        query = query.where(kpi_daily.c.site_id == ALL)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    if frame.empty:
        return {}
    frame["kpi_date"] = pd.to_datetime(frame["kpi_date"])
    latest = frame["kpi_date"].max()
    recent_start = latest - timedelta(days=recent_days - 1)
    baseline_start = recent_start - timedelta(days=baseline_days)
    return {
        "latest_date": latest.date().isoformat(),
        "latest": _value(kpi, frame[frame["kpi_date"] == latest]),
        "recent": _value(kpi, frame[frame["kpi_date"] >= recent_start]),
        "baseline": _value(kpi, frame[(frame["kpi_date"] >= baseline_start) & (frame["kpi_date"] < recent_start)]),
    }


def _value(kpi: str, rows: pd.DataFrame) -> float | None:
    """A period's value from summed numerators and denominators (never an average of daily ratios)."""
    from transforms.kpi_tables import kpi_value

    value = kpi_value(kpi, pd.Series([rows["numerator"].sum()]), pd.Series([rows["denominator"].sum()])).iloc[0]
    return None if pd.isna(value) else float(value)


def render(settings: Settings) -> str:
    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        lines = [
            "",
            "QualityPulse run summary",
            "=" * 24,
            "",
            "Rows per dataset (all batches in the ledger; updated: loaded rows that corrected an earlier version)",
        ]
        totals = ledger_totals(engine)
        lines.append(
            f"  {'dataset':<22}{'batches':>8}{'extracted':>11}{'loaded':>9}{'updated':>9}{'quarantined':>13}"
            f"{'duplicates':>12}{'blocked':>9}"
        )
        for row in totals.itertuples(index=False):
            lines.append(
                f"  {row.dataset:<22}{row.batches:>8}{row.extracted:>11}{row.loaded:>9}{row.updated:>9}"
                f"{row.quarantined:>13}{row.duplicates:>12}{row.blocked:>9}"
            )
        lines += ["", "Extraction: what the sources did (latest 8 of each dataset's events)"]
        lines += [f"  {e.dataset}: {e.kind} {e.subject}: {shorten(e.detail, 100)}" for e in _recent_events(engine)] or [
            "  (nothing unusual)"
        ]
        lines += ["", "Quarantine: the most frequent reasons"]
        reasons = _quarantine_reasons(engine)
        lines += [f"  {n:>5}  {reason}" for reason, n in _top_reasons(reasons)] or ["  (none)"]
        lines += ["", "Validation: the rules that caught records (all batches; rows, or what GX observed)"]
        examples = _caught_records(reasons)
        lines += [
            f"  {r.dataset:<22}{r.severity:<9}{shorten(r.rule, 44):<45}{_caught(r)}"
            f"{examples.get((r.dataset, r.rule), '')}"
            for r in _failed_rules(engine)
        ] or ["  (every rule held)"]
        lines += _blocked_section(engine)
        lines += _waiting_section(engine)
        lines += _data_quality_alerts_section(engine)
        lines += _freshness_section(engine)
        currency = settings.ledger_currency
        lines += ["", "KPIs, company-wide", f"  {'':<22}{'latest day':>25}{'last 7 days':>17}{'28 days before':>18}"]
        for kpi in REGISTRY.summary_rows():
            trend = kpi_trend(engine, kpi.code)
            if not trend:
                lines.append(f"  {kpi.narrow_label:<22} no data")
                continue
            lines.append(
                f"  {kpi.narrow_label:<22}{_show(trend['latest'], kpi, currency):>14} {trend['latest_date']}"
                f"{_show(trend['recent'], kpi, currency):>17}{_show(trend['baseline'], kpi, currency):>18}  "
                f"{_arrow(trend['recent'], trend['baseline'], kpi.higher_is_better)}"
            )
        headline = REGISTRY[REGISTRY.headline]
        lines += ["", f"{headline.label + ' per line':<27}{'last 7 days':>13}{'28 days before':>16}"]
        for line_id in _lines(engine, headline.code):
            trend = kpi_trend(engine, headline.code, line_id=line_id)
            shown = [_show(trend[period], headline, currency) for period in ("recent", "baseline")]
            lines.append(
                f"  {line_id:<25}{shown[0]:>13}{shown[1]:>16}  "
                f"{_arrow(trend['recent'], trend['baseline'], headline.higher_is_better)}"
            )
        lines += _capability_section(engine)
        lines += _alerts_section(engine)
        lines += [
            "",
            f"Warehouse:  {settings.warehouse_url_redacted}",
            f"Data Docs:  {settings.data_docs_dir / 'index.html'} (every batch's validation, newest first)",
            f"Raw batches: {settings.landing_dir}",
            "",
        ]
        # Events, errors and alert texts come from many writers: whatever one of them let through, no credential
        # leaves in the summary.
        return redact("\n".join(lines))


def _recent_events(engine: Engine, per_dataset: int = 8) -> list[Any]:
    query = select(extraction_event).order_by(extraction_event.c.dataset, extraction_event.c.event_id)
    with engine.connect() as connection:
        events = connection.execute(query).all()
    by_dataset: dict[str, list[Any]] = {}
    for event in events:
        by_dataset.setdefault(event.dataset, []).append(event)
    return [e for dataset_events in by_dataset.values() for e in dataset_events[-per_dataset:]]


def _quarantine_reasons(engine: Engine) -> list[tuple[str, str | None, str]]:
    """(dataset, record key, reason) for every reason of every quarantined row."""
    with engine.connect() as connection:
        rows = connection.execute(select(quarantine.c.dataset, quarantine.c.record_key, quarantine.c.failed_rules))
        return [(dataset, key, reason) for dataset, key, failed in rows for reason in json.loads(failed)]


def _top_reasons(reasons: list[tuple[str, str | None, str]], top: int = 6) -> list[tuple[str, int]]:
    """The most frequent reasons, the most first; equally frequent ones by their text."""
    counts = Counter(f"{dataset}: {shorten(reason, 90)}" for dataset, _, reason in reasons)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at a word boundary and marked with an ellipsis."""
    shortened = textwrap.shorten(text, width=width, placeholder=" ...")
    if shortened == "...":  # a first word longer than the width: nothing else to cut at
        return text[: width - 3] + "..."
    return shortened


def _failed_rules(engine: Engine) -> list[Any]:
    """Each failed rule per dataset: in how many batches, and how many rows it caught (row-level rules)."""
    result = validation_result.c
    query = (
        select(
            result.dataset,
            result.rule,
            result.severity,
            func.count().label("batches"),
            func.sum(result.unexpected_count).label("rows"),
            func.max(result.observed_value).label("observed"),
        )
        .where(result.success.is_(False))
        .group_by(result.dataset, result.rule, result.severity)
        .order_by(result.dataset, result.rule)
    )
    with engine.connect() as connection:
        return list(connection.execute(query))


def _caught_records(reasons: list[tuple[str, str | None, str]], per_rule: int = 2) -> dict[tuple[str, str], str]:
    """A few keys of the records each rule caught, as ``": KEY1, KEY2"``."""
    keys: dict[tuple[str, str], list[str]] = {}
    for dataset, record_key, reason in reasons:
        if reason.startswith("rule: ") and record_key:
            keys.setdefault((dataset, reason.removeprefix("rule: ")), []).append(record_key)
    return {rule: ": " + ", ".join(sorted(found)[:per_rule]) for rule, found in keys.items()}


def _caught(rule: Any) -> str:
    batches = f" in {rule.batches} batches" if rule.batches > 1 else ""
    if rule.rows is not None:
        return f"{rule.rows} rows{batches}"
    return f"observed {shorten(str(rule.observed), 30)}{batches}"


def _blocked_section(engine: Engine) -> list[str]:
    """Blocked batches, why, the KPI days they hold, and their Data Docs page."""
    with engine.connect() as connection:
        blocked = connection.execute(
            select(batch_ledger.c.batch_id, batch_ledger.c.reason, batch_ledger.c.data_docs_page)
            .where(batch_ledger.c.status == "blocked")
            .order_by(batch_ledger.c.landed_at, batch_ledger.c.batch_id)
        ).all()
        holds = pd.read_sql(select(kpi_hold).where(kpi_hold.c.released_at.is_(None)), connection)
    lines = ["", f"Blocked batches: {len(blocked)}"]
    for batch in blocked:
        lines.append(f"  {batch.batch_id}: {batch.reason}")
        held = holds[holds["batch_id"] == batch.batch_id]
        if not held.empty:
            days = pd.to_datetime(held["kpi_date"])
            families = "/".join(sorted(set(held["family"])))
            lines.append(
                f"    KPIs withheld: {families} on {days.dt.date.nunique()} day(s), "
                f"{days.min().date()} to {days.max().date()}"
            )
        if batch.data_docs_page:
            lines.append(f"    Data Docs: {batch.data_docs_page}")
    return lines


def _waiting_section(engine: Engine) -> list[str]:
    """Batches no load finished: landed and waiting, held by a load (or left by a crashed one), or failed."""
    with engine.connect() as connection:
        waiting = connection.execute(
            select(batch_ledger.c.batch_id, batch_ledger.c.status, batch_ledger.c.reason, batch_ledger.c.claimed_by)
            .where(batch_ledger.c.status.in_(("landed", "processing", "failed")))
            .order_by(batch_ledger.c.landed_at, batch_ledger.c.batch_id)
        ).all()
    lines = ["", f"Batches waiting: {len(waiting)}" + ("" if waiting else " (every landed batch was processed)")]
    for batch in waiting:
        if batch.status == "failed":
            lines.append(f"  {batch.batch_id}: failed: {batch.reason} (after a fix: `qp replay {batch.batch_id}`)")
        elif batch.status == "processing":
            lines.append(f"  {batch.batch_id}: claimed by {batch.claimed_by} (the next run takes it over if that died)")
        else:
            lines.append(f"  {batch.batch_id}: landed, waiting for the next load (`qp load` or the DAGs)")
    return lines


def _data_quality_alerts_section(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        alerts = connection.execute(
            select(data_quality_alert)
            .where(data_quality_alert.c.status == "open")
            .order_by(data_quality_alert.c.first_seen_at, data_quality_alert.c.alert_id)
        ).all()
    lines = ["", f"Data-quality alerts: {len(alerts)} open"]
    lines += [f"  {shorten(a.message, 160)}" for a in alerts[-8:]]
    return lines


def _freshness_section(engine: Engine) -> list[str]:
    """One line: the sources (or datasets) silent past their freshness deadline, as the latest ingest runs judged."""
    with engine.connect() as connection:
        watched = connection.execute(select(source_freshness).where(source_freshness.c.watched_as != "off")).all()
    if not watched:
        return []
    silent = {r.source if r.watched_as == "source" else r.dataset: r.deadline_at for r in watched if r.is_overdue}
    if not silent:
        judged = max(r.evaluated_at for r in watched)
        return ["", f"Freshness: every watched source delivered in time (judged {judged:%Y-%m-%d %H:%M} UTC)"]
    late = ", ".join(f"{name} (deadline {deadline:%Y-%m-%d %H:%M} UTC)" for name, deadline in sorted(silent.items()))
    return ["", f"Freshness: silent past the deadline: {late} (BI view source_freshness)"]


def _lines(engine: Engine, kpi: str) -> list[str]:
    query = select(kpi_daily.c.line_id).where(kpi_daily.c.kpi == kpi, kpi_daily.c.grain == "line").distinct()
    with engine.connect() as connection:
        return sorted(connection.scalars(query))


def _show(value: float | None, kpi: Kpi, currency: str) -> str:
    return "n/a" if value is None else kpi.with_unit(value, currency)


def _arrow(recent: float | None, before: float | None, higher_better: bool) -> str:
    if recent is None or before is None or recent == before:
        return ""
    better = (recent > before) == higher_better
    return ("up" if recent > before else "down") + (" (better)" if better else " (worse)")


SETTLED_RUNS = 30  # a month with fewer runs (the current one, usually) is too young to read capability from


def _capability_section(engine: Engine) -> list[str]:
    """Per product and step, the latest month with enough runs (else its latest): Cp, Cpk and Ppk against the spec,
    and the reading."""
    with engine.connect() as connection:
        months = pd.read_sql(select(process_capability).order_by(process_capability.c.month_start), connection)
    if months.empty:
        return [
            "",
            "Process capability: none yet (no specs in QP_CAPABILITY_SPECS, "
            f"or no month with {MIN_RUNS} runs of a step)",
        ]
    months["settled"] = months["runs"] >= SETTLED_RUNS
    # Per product and step: its latest settled month, or its latest month when none has settled yet.
    latest = months.sort_values(["settled", "month_start"]).groupby(["step_id", "product_id"]).tail(1)
    lines = [
        "",
        f"Process capability, cycle time in minutes (table process_capability; the latest month with {SETTLED_RUNS} "
        "runs or more)",
        f"  {'step':<8}{'product':<9}{'month':<9}{'runs':>5}{'LSL':>7}{'USL':>7}{'Cp':>7}{'Cpk':>7}{'Ppk':>7}  reading",
    ]
    for row in latest.sort_values(["step_id", "product_id"]).itertuples():
        reading = capability_reading(float(row.cpk))
        if not row.settled:
            reading += f" (a month of {row.runs:.0f} runs)"
        limits = [f"{v:>7g}" if pd.notna(v) else f"{'-':>7}" for v in (row.lsl, row.usl)]
        indices = [f"{v:>7.2f}" if pd.notna(v) else f"{'-':>7}" for v in (row.cp, row.cpk, row.ppk)]
        month = pd.Timestamp(row.month_start).strftime("%Y-%m")
        runs = f"{row.runs:>5.0f}"
        lines.append(f"  {row.step_id:<8}{row.product_id:<9}{month:<9}{runs}{''.join(limits + indices)}  {reading}")
    return lines


RESOLVED_SHOWN = 6  # of the open incidents' resolved alerts, the latest: how the story got here


def _alerts_section(engine: Engine) -> list[str]:
    """The open incidents and where their digests went (or why they wait), the open regression alerts, then the
    alerts of the open incidents that have resolved."""
    with engine.connect() as connection:
        alerts = (
            connection.execute(
                select(alert)
                .where(alert.c.status != "resolved")
                .order_by(alert.c.severity, alert.c.since_date, alert.c.subject, alert.c.alert_id)
            )
            .mappings()
            .all()
        )
        resolved = connection.scalar(select(func.count()).select_from(alert).where(alert.c.status == "resolved"))
        open_incidents = select(incident.c.incident_id).where(incident.c.status == "open")
        history = (
            connection.execute(
                select(alert)
                .where(alert.c.status == "resolved", alert.c.incident_id.in_(open_incidents))
                .order_by(alert.c.resolved_date, alert.c.since_date, alert.c.alert_id)
            )
            .mappings()
            .all()
        )
        incidents = (
            connection.execute(
                select(incident)
                .where(incident.c.status == "open")
                .order_by(incident.c.severity, incident.c.first_date, incident.c.incident_id)
            )
            .mappings()
            .all()
        )
        sent = connection.execute(
            select(
                notification.c.alert_id, notification.c.channel, notification.c.status, notification.c.last_error
            ).order_by(notification.c.channel, notification.c.notification_id)
        ).all()
    lines = ["", f"Incidents: {len(incidents)} open (table 'incident', BI views incidents and incident_timeline)"]
    for i in incidents:
        lines.append(f"  [{i['severity']}] {i['title']}")
        lines.append(
            f"      {i['open_alert_count']} of {i['alert_count']} alerts open, since {i['first_date']}; "
            f"id {i['incident_id'][:12]}"
        )
        went = dict.fromkeys(
            f"{n.channel} ({'sent' if n.status == 'sent' else 'pending'})"
            for n in sent
            if n.alert_id == i["incident_id"]
        )
        lines.append(f"      notified: {', '.join(went) if went else 'no channel configured'}")
    lines += ["", f"Alerts: {len(alerts)} open, {resolved} resolved (table 'alert', BI view quality_alerts)"]
    for a in alerts:
        lines.append(f"  [{a['severity']}] {a['subject']}")
        lines.append(f"      id {a['alert_id'][:12]}; incident {(a['incident_id'] or '-')[:12]}")
        contributors = json.loads(a["contributors"])
        if contributors:
            lines.append(f"      {contributors_text(contributors, a['kpi'])}")
    pending = [n for n in sent if n.status == "pending"]
    if pending:
        lines.append(
            f"  {len(pending)} notification(s) pending, retried next run: {pending[0].last_error or 'not tried yet'}"
        )
    # How the open incidents got here: their alerts that have resolved since (a lapse ahead of a regression, say),
    # the latest resolved last.
    earlier = list(history)
    if earlier:
        shown = min(len(earlier), RESOLVED_SHOWN)
        more = f"; {len(earlier) - shown} more in BI view incident_timeline" if len(earlier) > shown else ""
        lines += ["", f"Resolved alerts of the open incidents (the {shown} latest resolved{more})"]
    for a in earlier[-RESOLVED_SHOWN:]:
        lines.append(f"  [{a['severity']}] {a['subject']}, resolved {a['resolved_date']}")
        lines.append(f"      id {a['alert_id'][:12]}; incident {a['incident_id'][:12]}")
    return lines
