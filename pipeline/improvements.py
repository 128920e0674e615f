"""Improvements: judge every registered change by its KPIs before and after it (KPIS.md: before/after of an
improvement), with the money of its site and the days whose data could make the result an artefact."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from core.engine import Warehouse, write_transaction
from core.improvements import Improvement, load_improvements
from core.settings import Settings

if TYPE_CHECKING:
    from transforms.improvements import Windows

log = logging.getLogger(__name__)


def evaluate_improvements(settings: Settings) -> int:
    """Sync the improvements file into the register, then rebuild every improvement's effect rows; returns how many
    (improvement, KPI) rows were written. Idempotent."""
    from transforms.improvements import Windows
    from warehouse import improvements as store
    from warehouse.ledger import utcnow

    listed = load_improvements(settings.improvements)
    with Warehouse(settings.warehouse_url) as warehouse, write_transaction(warehouse.engine) as connection:
        now = utcnow()
        store.sync_file(connection, listed, now)
        last_day = store.last_kpi_day(connection)
        rows: list[dict[str, Any]] = []
        for change, _ in store.registered(connection) if last_day is not None else []:
            windows = Windows.around(change.change_date, change.window_days, last_day)  # type: ignore[arg-type]
            rows.extend(_effects(connection, change, windows))
        store.replace_effects(connection, rows, now)
    verdicts = [f"{r['improvement_id']} {r['kpi']}: {r['verdict']}" for r in rows]
    log.info("improvements: %d KPI comparison(s)%s", len(rows), f" ({'; '.join(verdicts)})" if verdicts else "")
    return len(rows)


def _effects(connection: Connection, change: Improvement, windows: Windows) -> list[dict[str, Any]]:
    from transforms.improvements import compare_stages
    from warehouse import improvements as store

    site, line, step = change.place
    money = {
        stage: store.costs_per_day(connection, site, start, end)
        for stage, start, end in (
            ("before", windows.before_start, windows.before_end),
            ("after", windows.after_start, windows.after_end),
        )
    }
    out = []
    for kpi in change.judged_kpis():
        daily = store.kpi_days(
            connection, kpi, change, windows.before_start, max(windows.after_end, windows.after_start)
        )
        comparison = compare_stages(daily, kpi, windows)
        doubtful = store.doubtful_days(connection, kpi, windows.before_start, windows.after_end)
        row: dict[str, Any] = {
            "improvement_id": change.improvement_id,
            "kpi": kpi.code,
            "grain": change.grain,
            "site_id": site,
            "line_id": line,
            "step_id": step,
            "before_start": windows.before_start,
            "before_end": windows.before_end,
            "after_start": windows.after_start,
            "after_end": max(windows.after_end, windows.after_start),
            "data_flags": _flags(doubtful),
            **{f"{measure}_{stage}": amount for stage in money for measure, amount in money[stage].items()},
        }
        if comparison is None:
            row.update(before_days=0, after_days=0, test="", after_beyond_favourable=0, after_beyond_adverse=0)
            row["verdict"] = "too early"
        else:
            row.update(_finite(comparison.as_row()))
        out.append(row)
    return out


def _flags(doubtful: dict[str, set[date]]) -> str:
    """Why a comparison may be a data artefact, in words; "" when its windows are clean."""
    from warehouse.improvements import QUARANTINE_FLAG_SHARE

    words = {
        "held": "held by a blocked batch (no KPI row)",
        "quarantined": f"with over {QUARANTINE_FLAG_SHARE:.0%} of a batch's rows quarantined",
    }
    return "; ".join(
        f"{len(days)} day(s) {words[kind]}: {', '.join(d.isoformat() for d in sorted(days)[:5])}"
        + (" ..." if len(days) > 5 else "")
        for kind, days in doubtful.items()
        if days
    )


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN as NULL (a stage without a value, a test without a result)."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
