"""What the report shows, read from the warehouse's BI views: the same rows a BI tool reads, so they never disagree.

Everything is gathered into one JSON-able dict for the page's script, which filters it by site, line and period.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import Connection, text

from core.alert_rules import AlertConfig
from core.kpi_format import contributors_text, display_name, is_percent
from core.kpi_registry import REGISTRY
from report.validation_pages import page_name
from report.views import read_view
from transforms.capability import CAPABLE_INDEX, MARGINAL_INDEX
from transforms.kpi_tables import kpi_value
from transforms.spc import NELSON_RULES, WESTERN_ELECTRIC_RULES
from warehouse.bi_views import qualified

# The periods the report's filter offers: the trailing 7 or 28 days, or the whole report ("all").
PERIODS = (7, 28)
# A tile's change is called better or worse only when the two periods' daily values differ beyond day-to-day noise.
NOISE_ALPHA = 0.05
# The run rules in words: the control charts store the code of the rule that fired.
RUN_RULE_WORDS = WESTERN_ELECTRIC_RULES | NELSON_RULES
# Run rules that read the 1 and 2 sigma zones: a chart judged by one of them draws its zones.
ZONE_RULES = {"rule_2", "rule_3", "nelson_5", "nelson_6", "nelson_7", "nelson_8"}
SIGMA_CHARTS = {"p_chart", "u_chart", "imr"}


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


def report_data(
    connection: Connection, first_day: date, last_day: date, config: AlertConfig, currency: str = ""
) -> dict[str, Any]:
    """The report's data for ``first_day`` .. ``last_day`` (both included); money is in ``currency``."""
    params = {"first": first_day, "last": last_day}
    span = (last_day - first_day).days + 1
    # The tiles compare each period with the one before it: read that far back.
    daily = read_view(
        connection,
        "kpi_daily",
        "where kpi_day between :before and :last and grain <> 'step'",
        before=first_day - timedelta(days=span),
        last=last_day,
    )
    daily["kpi_day"] = _day(daily["kpi_day"])
    shown = daily[daily.kpi_day >= first_day]
    lines = (
        shown[shown.grain == "line"][["site", "line"]].drop_duplicates().sort_values(["site", "line"]).values.tolist()
    )
    return {
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "currency": currency,
        "periods": [str(p) for p in PERIODS if p < span] + ["all"],
        "sites": sorted({site for site, _ in lines}),
        "lines": lines,
        "tiles": _tiles(daily, first_day, last_day, config),
        "control": _control(connection, params, config),
        "pareto": _pareto(connection, params),
        "coq": _coq(shown),
        "coq_span": _coq_span(daily),
        "coq_labels": {code: REGISTRY[code].narrow_label for code in _coq_categories()},
        "training": _training(connection, params),
        "alerts": _alerts(connection),
        "improvements": _improvements(connection),
        "capability": _capability(connection, last_day),
        "capability_bars": {"capable": CAPABLE_INDEX, "marginal": MARGINAL_INDEX},
        "quality": _quality(connection, params),
    }


def _thresholds(config: AlertConfig) -> dict[str, dict[str, Any]]:
    """Each KPI's alert threshold (a `target` rule of the rules file): a bound that raises an alert, not a goal."""
    out = {}
    for rule in config.rules:
        if rule.method == "target" and rule.target is not None:
            out[rule.kpi] = {"value": rule.target, "adverse": rule.adverse, "scope": rule.scope}
    return out


def _tiles(daily: pd.DataFrame, first_day: date, last_day: date, config: AlertConfig) -> list[dict[str, Any]]:
    """Per KPI and scope (company, each site, each line), for each period of the filter: the KPI over the period
    (pooled from numerators and denominators where it is their ratio), its n, the period before against it with
    Welch's t-test on the daily values (is the change beyond day-to-day noise?), the latest day and a sparkline."""
    thresholds = _thresholds(config)
    span = (last_day - first_day).days + 1
    periods = {str(p): p for p in PERIODS if p < span} | {"all": span}
    tiles = []
    # The tiles, in the registry's order (the order a quality review reads them).
    for kpi in REGISTRY.tiles():
        # Days without a value (no revenue that day) still count towards a ratio's summed counts.
        rows = daily[daily.kpi_name == kpi.code]
        if rows[(rows.kpi_day >= first_day) & rows.kpi_value.notna()].empty:
            continue
        scopes = {}
        for (grain, site, line), one in rows.groupby(["grain", "site", "line"]):
            one = one.sort_values("kpi_day")
            shown = one[(one.kpi_day >= first_day) & one.kpi_value.notna()]
            if shown.empty:
                continue
            latest = shown.iloc[-1]
            key = "company" if grain == "company" else (f"site:{site}" if grain == "site" else f"line:{line}")
            scopes[key] = {
                "day": latest.kpi_day.isoformat(),
                "value": _clean(float(latest.kpi_value)),
                "periods": _periods(kpi.code, _DailySeries.of(one), last_day, periods),
                "spark": _records(shown, ["kpi_day", "kpi_value"]),
            }
        tiles.append(
            {
                "kpi": kpi.code,
                "label": display_name(kpi.code),
                "percent": kpi.is_percent,
                "signed": kpi.unit == "score",  # NPS: a signed score on -100..100
                "unit": f" {kpi.unit_symbol}" if kpi.unit_symbol else "",
                "money": kpi.unit == "currency",
                "per_day": kpi.additivity == "amount",  # an amount over a period is shown as its mean day
                # What n counts, short (the registry's words up to a colon: "opportunities", not how they're made).
                "n_counts": kpi.denominator.counts.split(":")[0]
                if kpi.additivity == "ratio" and kpi.denominator
                else None,
                "decimals": int(re.search(r"\.(\d+)", kpi.display_format).group(1)),  # type: ignore[union-attr]
                "higher_better": kpi.higher_is_better,
                "threshold": thresholds.get(kpi.code),
                "scopes": scopes,
            }
        )
    return tiles


@dataclass(frozen=True)
class _DailySeries:
    """One place's daily rows of a KPI as arrays (the periods are cut from them many times: frames are slow)."""

    day: np.ndarray  # days since the epoch
    value: np.ndarray  # NaN where the day has no value
    numerator: np.ndarray
    denominator: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _DailySeries:
        days = pd.to_datetime(rows.kpi_day).to_numpy("datetime64[D]").astype("int64")
        column = lambda name: rows[name].to_numpy("float64", na_value=np.nan)  # noqa: E731
        return cls(days, column("kpi_value"), column("numerator"), column("denominator"))

    def between(self, first: date, last: date) -> _DailySeries:
        keep = (self.day >= _epoch_day(first)) & (self.day <= _epoch_day(last))
        return _DailySeries(self.day[keep], self.value[keep], self.numerator[keep], self.denominator[keep])

    def every_day(self, first: date, last: date) -> _DailySeries:
        """An amount on every calendar day from ``first`` to ``last``: a day without a row is 0 (nothing booked)."""
        days = np.arange(_epoch_day(first), _epoch_day(last) + 1)
        values = np.zeros(len(days))
        inside = self.between(first, last)
        np.add.at(values, inside.day - days[0] if len(days) else inside.day, np.nan_to_num(inside.value))
        return _DailySeries(days, values, values, np.ones(len(days)))


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _periods(kpi: str, series: _DailySeries, last_day: date, periods: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The KPI over each period ending ``last_day`` and the same length before it, judged against the noise.

    An amount (a cost) counts a day without bookings as 0, so a period's amount per day is over its calendar days
    (from the first day of the place's data), as the cost-of-quality chart reads it."""
    spec = REGISTRY[kpi]
    out = {}
    data_first = date(1970, 1, 1) + timedelta(days=int(series.day.min())) if len(series.day) else last_day
    for name, days in periods.items():
        start = last_day - timedelta(days=days - 1)
        before_start, before_end = start - timedelta(days=days), start - timedelta(days=1)
        if spec.additivity == "amount":
            now = series.every_day(max(start, data_first), last_day)
            before = series.every_day(max(before_start, data_first), before_end)
        else:
            now, before = series.between(start, last_day), series.between(before_start, before_end)
        out[name] = _judged(kpi, start, now, before)
    return out


def _judged(kpi: str, start: date, now: _DailySeries, before: _DailySeries) -> dict[str, Any]:
    """The period's value and n, the period before, and Welch's t-test on their daily values."""
    ratio = REGISTRY[kpi].additivity == "ratio"
    out: dict[str, Any] = {
        "first": start.isoformat(),
        "value": _pooled(kpi, now),
        "days": int((~np.isnan(now.value)).sum()),  # days with a value
        "n": _clean(float(now.denominator.sum())) if ratio else None,
        "before": _pooled(kpi, before),
        "before_days": int((~np.isnan(before.value)).sum()),
        "p_value": None,
        "verdict": "",
    }
    a, b = now.value[~np.isnan(now.value)], before.value[~np.isnan(before.value)]
    if out["value"] is None or out["before"] is None or len(a) < 2 or len(b) < 2:
        return out
    if a.std() == 0 and b.std() == 0:
        p_value = 0.0 if a.mean() != b.mean() else 1.0
    else:
        with warnings.catch_warnings():  # near-constant days (a stock KPI): scipy warns, the p-value still holds
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    out["p_value"] = _clean(p_value)
    # The test compares the daily values; the tile shows the pooled value: both must move the same way.
    same_way = (a.mean() > b.mean()) == (out["value"] > out["before"])
    if p_value < NOISE_ALPHA and out["value"] != out["before"] and same_way:
        out["verdict"] = "better" if (out["value"] > out["before"]) == REGISTRY[kpi].higher_is_better else "worse"
    return out


def _pooled(kpi: str, series: _DailySeries) -> float | None:
    """The KPI over several days, the way the registry says it rolls up: a ratio from the summed counts (never an
    average of daily ratios); an amount, a quantile or a product of ratios as the mean of its daily values."""
    if REGISTRY[kpi].additivity == "ratio":
        if not len(series.day) or not series.denominator.sum():
            return None
        numerator, denominator = pd.Series([series.numerator.sum()]), pd.Series([series.denominator.sum()])
        return _clean(float(kpi_value(kpi, numerator, denominator).iloc[0]))
    values = series.value[~np.isnan(series.value)]
    return _clean(float(values.mean())) if len(values) else None


def _control(connection: Connection, params: dict[str, Any], config: AlertConfig) -> list[dict[str, Any]]:
    """The control charts of the chart rules at line or site scope, one per place."""
    points = read_view(
        connection,
        "control_charts",
        "where kpi_day between :first and :last and method in ('p_chart', 'u_chart', 'laney_p', 'laney_u', 'imr') "
        "and process_step = 'ALL'",
        **params,
    )
    rules = {rule.name: rule for rule in config.rules}
    charts = []
    for (name, kpi, site, line), one in points.groupby(["rule_name", "kpi_name", "site", "line"]):
        one = one.sort_values("kpi_day")
        rule = rules.get(str(name))
        charts.append(
            {
                "rule": name,
                "kpi": kpi,
                "label": display_name(kpi),
                "percent": is_percent(kpi),
                "site": site,
                "line": line,
                # Pooled over the trailing days, the chart says so: each point is a window, not a day.
                "window_days": rule.window_days if rule else 1,
                # Zones are drawn from the limits' width, which is 3 sigma on these charts; a Laney chart may fall
                # back to probability limits, whose zones aren't evenly spaced: it draws none.
                "zones": bool(rule and ZONE_RULES & set(rule.rules) and rule.method in SIGMA_CHARTS),
                "points": _records(
                    one.assign(
                        kpi_day=_day(one.kpi_day),
                        rule_fired=[RUN_RULE_WORDS.get(str(code), code) for code in one.rule_fired],
                    ),
                    [
                        "kpi_day",
                        "kpi_value",
                        "centre_line",
                        "lower_control_limit",
                        "upper_control_limit",
                        "rule_fired",
                        "is_adverse",
                        "sample_size",
                    ],
                ),
            }
        )
    return charts


def _pareto(connection: Connection, params: dict[str, Any]) -> list[list[Any]]:
    defects = read_view(connection, "defect_pareto_daily", "where production_day between :first and :last", **params)
    defects["production_day"] = _day(defects["production_day"])
    return _records(defects, ["production_day", "site", "line", "defect_code", "defect_category", "defects"])


def _coq_categories() -> list[str]:
    """The parts of the cost of quality (its PAF categories): the only KPIs the registry declares as parts."""
    return [k.code for k in REGISTRY if k.part_of is not None]


def _coq(daily: pd.DataFrame) -> list[list[Any]]:
    """The cost of quality's categories per day, company-wide and per site: the page sums them by week within the
    chosen period, so a week the period or the data cuts short is known to be partial."""
    rows = daily[daily.kpi_name.isin(_coq_categories()) & daily.grain.isin(["company", "site"])]
    return _records(rows.sort_values(["kpi_day", "site", "kpi_name"]), ["kpi_day", "site", "kpi_name", "kpi_value"])


def _coq_span(daily: pd.DataFrame) -> dict[str, list[str]]:
    """Each site's (and the company's, ALL) first and last day of cost data: the days a week's cost per day is over."""
    rows = daily[daily.kpi_name.isin(_coq_categories()) & daily.grain.isin(["company", "site"])]
    return {str(site): [one.min().isoformat(), one.max().isoformat()] for site, one in rows.groupby("site").kpi_day}


def _training(connection: Connection, params: dict[str, Any]) -> list[list[Any]]:
    """Each line's months that overlap the report, with the last day of each month and whether the data covers the
    whole month (a month the data starts or ends inside is partial: its point is marked, not read as a change)."""
    months = read_view(connection, "training_vs_outcomes", "where period = 'month' and period_start <= :last", **params)
    kpi_daily = qualified("kpi_daily", connection)
    data_first, data_last = (
        pd.Timestamp(day).date()
        for day in connection.execute(text(f"select min(kpi_day), max(kpi_day) from {kpi_daily}")).one()  # noqa: S608
    )
    months["period_start"] = _day(months["period_start"])
    months["period_end"] = [(pd.Timestamp(d) + pd.offsets.MonthEnd(0)).date() for d in months.period_start]
    months = months[months.period_end >= params["first"]]
    months["partial"] = (months.period_start < data_first) | (months.period_end > data_last)
    months["covered_to"] = [min(end, data_last) for end in months.period_end]
    return _records(
        months.sort_values(["period_start", "site", "line"]),
        ["period_start", "site", "line", "training_compliance", "first_pass_yield", "covered_to", "partial"],
    )


def _alerts(connection: Connection) -> list[dict[str, Any]]:
    """The open and acknowledged alerts, each with what drives it in words (as the notifications put it)."""
    alerts = read_view(connection, "quality_alerts", "where alert_status <> 'resolved' order by severity, began_on")
    out = []
    for row in alerts.to_dict("records"):
        contributors = json.loads(row["contributors"] or "[]")
        drivers = contributors_text(contributors, str(row["kpi_name"])) if contributors else ""
        out.append({**{k: _clean(v) for k, v in row.items()}, "drivers": drivers})
    return out


def _improvements(connection: Connection) -> list[dict[str, Any]]:
    """Each improvement and KPI before and after its change (whatever the report's range: a change is judged on its
    own windows), with the KPI's days at its scope for the staged chart."""
    effects = read_view(connection, "improvement_effects", "order by change_date, improvement_id, kpi_name")
    out = []
    for row in effects.to_dict("records"):
        days = read_view(
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
    months = read_view(
        connection, "process_capability", "where month_start <= :last order by month_start", last=last_day
    )
    if months.empty:
        return []
    months["month_start"] = _day(months["month_start"])
    latest = months[months.month_start == months.month_start.max()]
    month = latest.month_start.iloc[0]
    runs = read_view(
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
    """Data quality by the data's own day (the rows' event date), the blocked batches, and the ledger's batches with
    their validation pages (written beside the report, ``report.validation_pages``)."""
    by_day = read_view(connection, "data_quality_by_day", "where data_day between :first and :last", **params)
    by_day["data_day"] = _day(by_day["data_day"])
    held = read_view(connection, "quarantined_rows", "where quarantine_status = 'open' and data_day is null")
    ledger = read_view(connection, "batch_ledger", "order by landed_at")
    ledger["page"] = [
        page_name(str(d), str(b)) if pd.notna(p) else None
        for d, b, p in zip(ledger.dataset, ledger.batch_id, ledger.processed_at, strict=True)
    ]
    blocked = ledger[ledger.batch_status == "blocked"]
    return {
        "by_day": _records(
            by_day.sort_values(["data_day", "dataset"]),
            ["dataset", "data_day", "rows_loaded", "rows_quarantined", "rows_dismissed", "row_pass_rate"],
        ),
        "undated": {str(k): int(v) for k, v in held.groupby("dataset").size().items()},
        "blocked": _records(blocked, ["batch_id", "dataset", "blocked_reason", "page"]),
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
                "page",
            ],
        ),
    }
