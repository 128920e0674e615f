"""The improvement register and what judging an improvement reads and writes: the KPI's daily rows at its scope,
the quality costs of its site, the days a blocked batch held or a batch largely quarantined, and the effect rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, delete, func, insert, select, true, update

from core.improvements import ALL, Improvement
from core.kpi_registry import Kpi
from warehouse.schema import FACT_TABLES, batch_ledger, improvement, improvement_effect, kpi_daily, kpi_hold

COST_LEDGER = FACT_TABLES["cost_ledger"]

# A day whose batches (of a dataset the KPI reads) had more than this share of their rows quarantined is flagged:
# the KPI that day rests on what passed, and a stage full of such days can't show a real change.
QUARANTINE_FLAG_SHARE = 0.05


class ImprovementExists(ValueError):
    """An improvement of that name is registered already."""


def add(connection: Connection, change: Improvement, origin: str, now: datetime) -> None:
    """Register ``change``; refused when its name (as an id) is taken."""
    taken = connection.scalar(select(improvement.c.origin).where(improvement.c.improvement_id == change.improvement_id))
    if taken is not None:
        where = "the improvements file" if taken == "file" else "`qp improvement add`"
        raise ImprovementExists(f"an improvement {change.improvement_id!r} is registered already (by {where})")
    connection.execute(insert(improvement).values(**_row(change), origin=origin, created_at=now))


def sync_file(connection: Connection, listed: Iterable[Improvement], now: datetime) -> None:
    """Make the register's file entries those ``listed`` (added, changed, or removed when no longer listed)."""
    listed = list(listed)
    from_cli = set(connection.scalars(select(improvement.c.improvement_id).where(improvement.c.origin == "cli")))
    clash = sorted(c.improvement_id for c in listed if c.improvement_id in from_cli)
    if clash:
        raise ImprovementExists(f"registered by `qp improvement add` and listed in the file: {', '.join(clash)}")
    known = set(connection.scalars(select(improvement.c.improvement_id).where(improvement.c.origin == "file")))
    wanted = {c.improvement_id: c for c in listed}
    gone = known - set(wanted)
    if gone:
        connection.execute(delete(improvement).where(improvement.c.improvement_id.in_(sorted(gone))))
    for improvement_id, change in wanted.items():
        if improvement_id in known:
            connection.execute(
                update(improvement).where(improvement.c.improvement_id == improvement_id).values(**_row(change))
            )
        else:
            connection.execute(insert(improvement).values(**_row(change), origin="file", created_at=now))


def _row(change: Improvement) -> dict[str, Any]:
    site, line, step = change.place
    return {
        "improvement_id": change.improvement_id,
        "name": change.name,
        "change_date": change.change_date,
        "site_id": site,
        "line_id": line,
        "step_id": step,
        "kpis": json.dumps(list(change.kpis)),
        "window_days": change.window_days,
        "description": change.description,
    }


def registered(connection: Connection) -> list[tuple[Improvement, str]]:
    """Every registered improvement and where it came from (cli or file), by change date."""
    out = []
    for row in connection.execute(select(improvement).order_by(improvement.c.change_date, improvement.c.name)):
        scope = "/".join(part for part in (row.site_id, row.line_id, row.step_id) if part != ALL) or ALL
        change = Improvement(
            name=row.name,
            change_date=pd.Timestamp(row.change_date).date(),
            scope=scope,
            kpis=tuple(json.loads(row.kpis)),
            window_days=row.window_days,
            description=row.description,
        )
        out.append((change, row.origin))
    return out


def last_kpi_day(connection: Connection) -> date | None:
    newest = connection.scalar(select(func.max(kpi_daily.c.kpi_date)))
    return None if newest is None else pd.Timestamp(newest).date()


def kpi_days(connection: Connection, kpi: Kpi, change: Improvement, first: date, last: date) -> pd.DataFrame:
    """The KPI's daily rows at the improvement's scope between ``first`` and ``last``."""
    site, line, step = change.place
    query = (
        select(kpi_daily.c.kpi_date, kpi_daily.c.numerator, kpi_daily.c.denominator, kpi_daily.c.value)
        .where(
            kpi_daily.c.kpi == kpi.code,
            kpi_daily.c.site_id == site,
            kpi_daily.c.line_id == line,
            kpi_daily.c.step_id == step,
            kpi_daily.c.kpi_date.between(first, last),
        )
        .order_by(kpi_daily.c.kpi_date)
    )
    rows = pd.DataFrame(connection.execute(query).all(), columns=["kpi_date", "numerator", "denominator", "value"])
    rows["kpi_date"] = pd.to_datetime(rows["kpi_date"]).dt.date
    return rows.astype({"numerator": "float64", "denominator": "float64", "value": "float64"})


def costs_per_day(connection: Connection, site: str, first: date, last: date) -> dict[str, float | None]:
    """The site's (every site's for ALL) daily average of poor-quality, external-failure, prevention and training
    costs booked between ``first`` and ``last``: the money beside an improvement (the ledger books external failure
    and prevention per site, so a line's improvement is weighed by its site's money)."""
    days = (last - first).days + 1
    if days <= 0:  # a stage that has not begun
        return dict.fromkeys(("copq_per_day", "external_failure_per_day", "prevention_per_day", "training_per_day"))
    amount = func.coalesce(func.sum(COST_LEDGER.c.amount), 0.0)
    booked = and_(
        COST_LEDGER.c.booked_on.between(first, last), true() if site == ALL else COST_LEDGER.c.site_id == site
    )
    by_category = dict(
        connection.execute(select(COST_LEDGER.c.category, amount).where(booked).group_by(COST_LEDGER.c.category)).all()
    )
    training = connection.scalar(select(amount).where(booked, COST_LEDGER.c.cost_element == "training"))
    failure = by_category.get("internal_failure", 0.0) + by_category.get("external_failure", 0.0)
    return {
        "copq_per_day": failure / days,
        "external_failure_per_day": by_category.get("external_failure", 0.0) / days,
        "prevention_per_day": by_category.get("prevention", 0.0) / days,
        "training_per_day": float(training or 0.0) / days,
    }


def doubtful_days(connection: Connection, kpi: Kpi, first: date, last: date) -> dict[str, set[date]]:
    """Days between ``first`` and ``last`` whose data may make the KPI an artefact: held (a batch it depends on is
    blocked, so the day has no row) or largely quarantined (over ``QUARANTINE_FLAG_SHARE`` of the rows of a batch
    of a dataset the KPI reads; a batch covers the day before its interval's end)."""
    held = connection.scalars(
        select(kpi_hold.c.kpi_date)
        .where(kpi_hold.c.family == kpi.family, kpi_hold.c.released_at.is_(None))
        .where(kpi_hold.c.kpi_date.between(first, last))
        .distinct()
    )
    datasets = {m.dataset for m in (kpi.numerator, kpi.denominator) if m is not None}
    batches = connection.execute(
        select(batch_ledger.c.interval_end, batch_ledger.c.rows_extracted, batch_ledger.c.rows_quarantined).where(
            batch_ledger.c.dataset.in_(sorted(datasets)),
            batch_ledger.c.interval_end.is_not(None),
            batch_ledger.c.rows_extracted > 0,
            batch_ledger.c.interval_end.between(first, last + timedelta(days=1)),
        )
    ).all()
    quarantined = {
        (pd.Timestamp(end) - pd.Timedelta(days=1)).date()
        for end, extracted, held_back in batches
        if held_back / extracted > QUARANTINE_FLAG_SHARE
    }
    return {
        "held": {pd.Timestamp(d).date() for d in held},
        "quarantined": {d for d in quarantined if first <= d <= last},
    }


def replace_effects(connection: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    connection.execute(delete(improvement_effect))
    if rows:
        connection.execute(insert(improvement_effect), [{**row, "computed_at": now} for row in rows])
