"""KPI days held back by blocked batches: no KPI is published from a day whose data a blocked batch is missing.

A fact batch that fails a batch-level critical check (volume collapse, stale data, a missing column) holds the
KPI families that depend on its dataset, on the days its rows carry. Held days are withheld from the KPI tables
(their rows are removed, not left half-right) until the batch is resolved: it loads after a fix (``qp replay``),
or its quarantined rows are replayed or dismissed. Then the days are rebuilt. ``kpi_hold`` keeps the history.

Dimension batches hold nothing: when one is blocked the warehouse keeps the previous master data, which every
day's KPIs can still use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Connection, and_, exists, insert, select, update

from core import landing
from core.kpi_registry import REGISTRY
from warehouse.dq_alerts import resolve_blocked_batch
from warehouse.ledger import utcnow
from warehouse.schema import batch_ledger, kpi_hold, quarantine

log = logging.getLogger(__name__)


@dataclass
class Holds:
    held: dict[str, set[date]] = field(default_factory=dict)  # every day held now, per family
    newly_held: dict[str, set[date]] = field(default_factory=dict)  # held since the last build: rows to remove
    released: dict[str, set[date]] = field(default_factory=dict)  # released since the last build: days to rebuild


def sync_holds(connection: Connection) -> Holds:
    """Hold the days of newly blocked batches, release those of resolved ones; in the caller's transaction."""
    now = utcnow()
    held_by = REGISTRY.held_by()  # dataset -> (the column that dates its rows, the families it feeds)
    unresolved = (
        select(batch_ledger)
        .where(batch_ledger.c.status == "blocked", batch_ledger.c.dataset.in_(held_by))
        .where(exists().where(and_(quarantine.c.batch_id == batch_ledger.c.batch_id, quarantine.c.status == "open")))
    )
    blocked = {row.batch_id: row for row in connection.execute(unresolved)}
    current = pd.read_sql(select(kpi_hold).where(kpi_hold.c.released_at.is_(None)), connection)
    holds = Holds()
    for row in current.itertuples(index=False):
        target = holds.held if row.batch_id in blocked else holds.released
        target.setdefault(row.family, set()).add(pd.Timestamp(row.kpi_date).date())
    already_held = set(current["batch_id"])
    released_batches = sorted(already_held - set(blocked))
    if released_batches:
        connection.execute(
            update(kpi_hold)
            .where(kpi_hold.c.batch_id.in_(released_batches), kpi_hold.c.released_at.is_(None))
            .values(released_at=now)
        )
        for batch_id in released_batches:
            resolve_blocked_batch(connection, batch_id, now)
        log.info("KPI holds released (batches resolved): %s", ", ".join(released_batches))
    for batch_id, batch in blocked.items():
        if batch_id in already_held:
            continue
        column, families = held_by[batch.dataset]
        days = _days_of(batch, column)
        rows = [
            {
                "family": family,
                "kpi_date": day,
                "batch_id": batch_id,
                "dataset": batch.dataset,
                "reason": batch.reason or "batch blocked",
                "held_at": now,
            }
            for family in families
            for day in sorted(days)
        ]
        if rows:
            connection.execute(insert(kpi_hold), rows)
        for family in families:
            holds.held.setdefault(family, set()).update(days)
            holds.newly_held.setdefault(family, set()).update(days)
        log.warning(
            "KPIs withheld: %s on %d day(s) from %s to %s, because batch %s is blocked (%s)",
            "/".join(families),
            len(days),
            min(days) if days else "-",
            max(days) if days else "-",
            batch_id,
            batch.reason,
        )
    # A day released by one batch may still be held by another.
    for family, days in holds.released.items():
        days -= holds.held.get(family, set())
    return holds


def _days_of(batch: object, column: str) -> set[date]:
    """The days the blocked batch's rows carry in ``column``; its data interval's days when none can be read."""
    try:
        raw = landing.read_columns(batch.raw_path, [column])  # type: ignore[attr-defined]
        days = {d.date() for d in pd.to_datetime(raw[column], errors="coerce", format="mixed").dropna()}
    except (KeyError, ValueError, OSError):
        days = set()
    if days:
        return days
    last = batch.interval_end or batch.landed_at  # type: ignore[attr-defined]
    first = batch.watermark_from or last  # type: ignore[attr-defined]
    return {first.date() + timedelta(days=i) for i in range((last.date() - first.date()).days + 1)}


def without_held_days(frame: pd.DataFrame, held: set[date] | None) -> pd.DataFrame:
    """A family's freshly built KPI rows minus those of held days."""
    if not held or frame.empty:
        return frame
    return frame[~pd.to_datetime(frame["kpi_date"]).dt.date.isin(held)].reset_index(drop=True)
