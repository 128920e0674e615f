"""What the report shows, read from the warehouse's BI views: the same rows a BI tool reads, so they never disagree.

Everything is gathered into one JSON-able dict for the page's script, which filters it by site, line and period.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from core.alert_rules import AlertConfig
from core.kpi_format import contributors_text, display_name, is_percent
from core.kpi_registry import REGISTRY
from transforms.capability import CAPABLE_INDEX, MARGINAL_INDEX
from transforms.kpi_tables import kpi_value
from warehouse.bi_views import qualified

RECENT_DAYS, BASELINE_DAYS = 7, 28


def _view(connection: Connection, name: str, where: str = "", **params: Any) -> pd.DataFrame:
    sql = f"select * from {qualified(name, connection)} {where}"  # noqa: S608 (names are ours)
    return pd.read_sql(text(sql), connection, params=params)


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.date


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy numbers plain Python numbers, dates ISO strings."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame, columns: list[str]) -> list[list[Any]]:
    return [[_clean(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]


def report_data(connection: Connection, first_day: date, last_day: date, config: AlertConfig) -> dict[str, Any]:
    """The report's data for ``first_day`` .. ``last_day`` (both included)."""
    params = {"first": first_day, "last": last_day}
    daily = _view(connection, "kpi_daily", "where kpi_day between :first and :last and grain <> 'step'", **params)
    daily["kpi_day"] = _day(daily["kpi_day"])
    lines = (
        daily[daily.grain == "line"][["site", "line"]].drop_duplicates().sort_values(["site", "line"]).values.tolist()
    )
    targets = {r.kpi: r.target for r in config.rules if r.method == "target" and r.target is not None}
    return {
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "sites": sorted({site for site, _ in lines}),
        "lines": lines,
        "tiles": _tiles(daily, targets),
        "control": _control(connection, params),
        "pareto": _pareto(connection, params),
        "coq": _coq(connection, params),
        "coq_labels": {code: REGISTRY[code].narrow_label for code in _coq_categories()},
        "training": _training(connection, params),
        "alerts": _alerts(connection),
        "improvements": _improvements(connection),
        "capability": _capability(connection, last_day),
        "capability_bars": {"capable": CAPABLE_INDEX, "marginal": MARGINAL_INDEX},
        "quality": _quality(connection, params),
    }


def _tiles(daily: pd.DataFrame, targets: dict[str, float]) -> list[dict[str, Any]]:
    """Per KPI and scope (company, each site, each line): the latest day's value, the change of the last 7 days
    against the 28 before (pooled from numerators and denominators where the KPI is their ratio), a sparkline."""
    tiles = []
    # The tiles, in the registry's order (the order a quality review reads them).
    for kpi, higher_better in ((k.code, k.higher_is_better) for k in REGISTRY.tiles()):
        rows = daily[(daily.kpi_name == kpi) & daily.kpi_value.notna()]
        if rows.empty:
            continue
        scopes = {}
        for (grain, site, line), one in rows.groupby(["grain", "site", "line"]):
            one = one.sort_values("kpi_day")
            latest = one.iloc[-1]
            end = latest.kpi_day
            recent = one[one.kpi_day > end - timedelta(days=RECENT_DAYS)]
            base = one[
                (one.kpi_day <= end - timedelta(days=RECENT_DAYS))
                & (one.kpi_day > end - timedelta(days=RECENT_DAYS + BASELINE_DAYS))
            ]
            key = "company" if grain == "company" else (f"site:{site}" if grain == "site" else f"line:{line}")
            scopes[key] = {
                "day": latest.kpi_day.isoformat(),
                "value": _clean(float(latest.kpi_value)),
                "recent": _pooled(kpi, recent),
                "baseline": _pooled(kpi, base),
                "spark": _records(one.tail(RECENT_DAYS + BASELINE_DAYS + 7), ["kpi_day", "kpi_value"]),
            }
        tiles.append(
            {
                "kpi": kpi,
                "label": display_name(kpi),
                "percent": is_percent(kpi),
                "signed": REGISTRY[kpi].unit == "score",  # NPS: a signed score on -100..100
                "higher_better": higher_better,
                "target": targets.get(kpi),
                "scopes": scopes,
            }
        )
    return tiles


def _pooled(kpi: str, rows: pd.DataFrame) -> float | None:
    """The KPI over several days, the way the registry says it rolls up: a ratio from the summed counts (never an
    average of daily ratios); an amount, a quantile or a product of ratios as the mean of its daily values."""
    if rows[rows.kpi_value.notna()].empty:
        return None
    if REGISTRY[kpi].additivity == "ratio":
        numerator, denominator = pd.Series([rows.numerator.sum()]), pd.Series([rows.denominator.sum()])
        return _clean(float(kpi_value(kpi, numerator, denominator).iloc[0]))
    return _clean(float(rows.kpi_value.dropna().mean()))


def _control(connection: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The control charts of the chart rules at line or site scope, one per place."""
    points = _view(
        connection,
        "control_charts",
        "where kpi_day between :first and :last and method in ('p_chart', 'u_chart', 'laney_p', 'laney_u', 'imr') "
        "and process_step = 'ALL'",
        **params,
    )
    charts = []
    for (rule, kpi, site, line), one in points.groupby(["rule_name", "kpi_name", "site", "line"]):
        one = one.sort_values("kpi_day")
        charts.append(
            {
                "rule": rule,
                "kpi": kpi,
                "label": display_name(kpi),
                "percent": is_percent(kpi),
                "site": site,
                "line": line,
                "points": _records(
                    one.assign(kpi_day=_day(one.kpi_day)),
                    [
                        "kpi_day",
                        "kpi_value",
                        "centre_line",
                        "lower_control_limit",
                        "upper_control_limit",
                        "rule_fired",
                        "is_adverse",
                    ],
                ),
            }
        )
    return charts


def _pareto(connection: Connection, params: dict[str, Any]) -> list[list[Any]]:
    defects = _view(connection, "defect_pareto_daily", "where production_day between :first and :last", **params)
    defects["production_day"] = _day(defects["production_day"])
    return _records(defects, ["production_day", "site", "line", "defect_code", "defect_category", "defects"])


def _coq_categories() -> list[str]:
    """The parts of the cost of quality (its PAF categories): the only KPIs the registry declares as parts."""
    return [k.code for k in REGISTRY if k.part_of is not None]


def _coq(connection: Connection, params: dict[str, Any]) -> list[list[Any]]:
    weekly = _view(
        connection,
        "kpi_weekly",
        "where week_start between :first and :last and grain in ('company', 'site')",
        **params,
    )
    weekly = weekly[weekly.kpi_name.isin(_coq_categories())]
    weekly["week_start"] = _day(weekly["week_start"])
    return _records(weekly, ["week_start", "site", "kpi_name", "kpi_value"])


def _training(connection: Connection, params: dict[str, Any]) -> list[list[Any]]:
    months = _view(
        connection, "training_vs_outcomes", "where period = 'month' and period_start between :first and :last", **params
    )
    months["period_start"] = _day(months["period_start"])
    return _records(months, ["period_start", "site", "line", "training_compliance", "first_pass_yield"])


def _alerts(connection: Connection) -> list[dict[str, Any]]:
    """The open and acknowledged alerts, each with what drives it in words (as the notifications put it)."""
    alerts = _view(connection, "quality_alerts", "where alert_status <> 'resolved' order by severity, began_on")
    out = []
    for row in alerts.to_dict("records"):
        contributors = json.loads(row["contributors"] or "[]")
        drivers = contributors_text(contributors, str(row["kpi_name"])) if contributors else ""
        out.append({**{k: _clean(v) for k, v in row.items()}, "drivers": drivers})
    return out


def _improvements(connection: Connection) -> list[dict[str, Any]]:
    """Each improvement and KPI before and after its change (whatever the report's range: a change is judged on its
    own windows), with the KPI's days at its scope for the staged chart."""
    effects = _view(connection, "improvement_effects", "order by change_date, improvement_id, kpi_name")
    out = []
    for row in effects.to_dict("records"):
        days = _view(
            connection,
            "kpi_daily",
            "where kpi_name = :kpi and site = :site and line = :line and process_step = :step "
            "and kpi_day between :first and :last order by kpi_day",
            kpi=row["kpi_name"],
            site=row["site"],
            line=row["line"],
            step=row["process_step"],
            first=row["before_start"],
            last=row["after_end"],
        )
        days["kpi_day"] = _day(days["kpi_day"])
        kpi = REGISTRY[str(row["kpi_name"])]
        out.append(
            {
                **{k: _clean(v) for k, v in row.items()},
                "label": display_name(kpi.code),
                "percent": is_percent(kpi.code),
                "signed": kpi.unit == "score",
                "points": _records(days, ["kpi_day", "kpi_value"]),
            }
        )
    return out


def _capability(connection: Connection, last_day: date) -> list[dict[str, Any]]:
    """Each product and step's capability in the latest month up to ``last_day``, with that month's cycle times for
    the histogram against the specification limits."""
    months = _view(connection, "process_capability", "where month_start <= :last order by month_start", last=last_day)
    if months.empty:
        return []
    months["month_start"] = _day(months["month_start"])
    latest = months[months.month_start == months.month_start.max()]
    month = latest.month_start.iloc[0]
    runs = _view(
        connection,
        "cycle_times",
        "where production_day between :first and :last",
        first=month,
        last=min(last_day, (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()),
    )
    out = []
    for row in latest.sort_values(["process_step", "product_id"]).to_dict("records"):
        times = runs[(runs.product_id == row["product_id"]) & (runs.process_step == row["process_step"])]
        trend = months[(months.product_id == row["product_id"]) & (months.process_step == row["process_step"])]
        out.append(
            {
                **{k: _clean(v) for k, v in row.items()},
                "minutes": [round(float(m), 2) for m in times.cycle_time_minutes.dropna()],
                "cpk_trend": _records(trend, ["month_start", "cpk"]),
            }
        )
    return out


def _quality(connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
    daily = _view(connection, "data_quality_daily")
    daily["validation_day"] = _day(daily["validation_day"])
    ledger = _view(connection, "batch_ledger", "order by landed_at")
    blocked = ledger[ledger.batch_status == "blocked"]
    return {
        "daily": _records(daily, ["dataset", "validation_day", "pass_rate", "batches_validated", "rows_quarantined"]),
        "quarantined": {str(k): int(v) for k, v in ledger.groupby("dataset").rows_quarantined.sum().items() if v},
        "blocked": _records(blocked, ["batch_id", "dataset", "blocked_reason", "data_docs_page"]),
        "batches": _records(
            ledger.assign(landed_at=ledger.landed_at.astype(str), processed_at=ledger.processed_at.astype(str)),
            [
                "batch_id",
                "dataset",
                "batch_kind",
                "batch_status",
                "landed_at",
                "processed_at",
                "rows_extracted",
                "rows_loaded",
                "rows_quarantined",
                "rows_duplicate",
                "data_docs_page",
            ],
        ),
    }
