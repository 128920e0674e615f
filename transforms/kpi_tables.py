"""Daily KPI rows at every grain from the conformed facts: numerator and denominator beside each value.

Rollups (line -> site -> company) sum numerators and denominators; they never average daily ratios.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from transforms import kpis
from warehouse.schema import ALL

KPI_COLUMNS = ["kpi", "kpi_date", "grain", "site_id", "line_id", "step_id", "numerator", "denominator", "value"]
PRODUCTION_GRAINS = {
    "step": ["site_id", "line_id", "step_id"],
    "line": ["site_id", "line_id"],
    "site": ["site_id"],
    "company": [],
}
SITE_GRAINS = {"site": ["site_id"], "company": []}
LINE_GRAINS = {"line": ["site_id", "line_id"], "site": ["site_id"], "company": []}


def _sigma_from_counts(defects: pd.Series, opportunities: pd.Series) -> pd.Series:
    sigma = kpis.sigma_level(kpis.ratio(defects, opportunities) * 1_000_000)
    return sigma.where(np.isfinite(sigma))  # zero defects: no finite sigma level, stored as NULL


# How each KPI's value follows from its summed numerator and denominator: the one place that says so, used for
# daily rows, rollups and weekly/monthly periods alike.
KPI_VALUE: dict[str, Callable[[pd.Series, pd.Series], pd.Series]] = {
    "fpy": kpis.fpy,
    "fraction_defective": kpis.fraction_defective,
    "dpmo": lambda n, d: kpis.ratio(n, d) * 1_000_000,
    "sigma_level": _sigma_from_counts,
    "nps": lambda n, d: kpis.ratio(n, d) * 100,
    "csat": kpis.ratio,
    "training_completion": kpis.training_completion_rate,
}


def _rollup(
    frame: pd.DataFrame,
    kpi: str,
    date_column: str,
    numerator: str,
    denominator: str,
    grains: dict[str, list[str]],
) -> pd.DataFrame:
    parts = []
    for grain, dims in grains.items():
        summed = frame.groupby([date_column, *dims], as_index=False)[[numerator, denominator]].sum()
        summed = summed.rename(columns={date_column: "kpi_date", numerator: "numerator", denominator: "denominator"})
        for dim in ("site_id", "line_id", "step_id"):
            if dim not in dims:
                summed[dim] = ALL
        summed["grain"] = grain
        parts.append(summed)
    out = pd.concat(parts, ignore_index=True)
    out["numerator"] = out["numerator"].astype("float64")
    out["denominator"] = out["denominator"].astype("float64")
    out["kpi"] = kpi
    out["value"] = KPI_VALUE[kpi](out["numerator"], out["denominator"])
    return out[KPI_COLUMNS]


PERIOD_COLUMNS = [
    "kpi",
    "period",
    "period_start",
    "grain",
    "site_id",
    "line_id",
    "step_id",
    "numerator",
    "denominator",
    "value",
]


def period_start(days: pd.Series, period: str) -> pd.Series:
    """The Monday of each day's ISO week, or the first of its month."""
    stamps = pd.to_datetime(days)
    if period == "week":
        return (stamps - pd.to_timedelta(stamps.dt.weekday, unit="D")).dt.date
    return stamps.dt.to_period("M").dt.start_time.dt.date


def period_rollup(daily: pd.DataFrame, period: str) -> pd.DataFrame:
    """Weekly or monthly KPI rows from daily rows: summed numerators and denominators, never averaged ratios."""
    if daily.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    frame = daily.assign(period_start=period_start(daily["kpi_date"], period))
    keys = ["kpi", "period_start", "grain", "site_id", "line_id", "step_id"]
    out = frame.groupby(keys, as_index=False)[["numerator", "denominator"]].sum()
    out["period"] = period
    out["value"] = np.nan
    for kpi, rows in out.groupby("kpi").groups.items():
        out.loc[rows, "value"] = KPI_VALUE[str(kpi)](out.loc[rows, "numerator"], out.loc[rows, "denominator"])
    return out[PERIOD_COLUMNS]


def production_kpis(runs: pd.DataFrame, defects: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """FPY, fraction defective, DPMO and sigma level per day and step, line, site and company."""
    if runs.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    runs = runs.merge(products[["product_id", "opportunities_per_unit"]], on="product_id", how="left")
    runs["opportunities"] = runs["units_inspected"] * runs["opportunities_per_unit"].fillna(0)
    defect_totals = defects.groupby("run_id", as_index=False)["defect_count"].sum()
    runs = runs.merge(defect_totals, on="run_id", how="left")
    runs["defect_count"] = runs["defect_count"].fillna(0)
    day = "production_date"
    grains = PRODUCTION_GRAINS
    dpmo = _rollup(runs, "dpmo", day, "defect_count", "opportunities", grains)
    sigma = dpmo.assign(kpi="sigma_level", value=KPI_VALUE["sigma_level"](dpmo["numerator"], dpmo["denominator"]))
    return pd.concat(
        [
            _rollup(runs, "fpy", day, "units_first_pass", "units_entered", grains),
            _rollup(runs, "fraction_defective", day, "units_defective", "units_inspected", grains),
            dpmo,
            sigma,
        ],
        ignore_index=True,
    )


def feedback_kpis(feedback: pd.DataFrame) -> pd.DataFrame:
    """NPS and CSAT per day and site and company."""
    if feedback.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    frame = feedback.assign(
        response_date=pd.to_datetime(feedback["responded_at"]).dt.date,
        net_promoters=(feedback["nps_score"] >= 9).astype(int) - (feedback["nps_score"] <= 6).astype(int),
        scored=feedback["nps_score"].notna().astype(int),
        satisfied=(feedback["csat_score"] >= 4).fillna(False).astype(int),
        csat_scored=feedback["csat_score"].notna().astype(int),
    )
    return pd.concat(
        [
            _rollup(
                frame,
                "nps",
                "response_date",
                "net_promoters",
                "scored",
                SITE_GRAINS,
            ),
            _rollup(frame, "csat", "response_date", "satisfied", "csat_scored", SITE_GRAINS),
        ],
        ignore_index=True,
    )


def training_kpis(assignments: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Training completion per due day and line, site and company, for assignments due by ``as_of``."""
    if assignments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    due = assignments[pd.to_datetime(assignments["due_on"]).dt.date <= as_of].copy()
    completed = pd.to_datetime(due["completed_on"])
    due["on_time"] = (
        completed.notna() & (completed <= pd.to_datetime(due["due_on"])) & due["status"].ne("exempt")
    ).astype(int)
    due["eligible"] = due["status"].ne("exempt").astype(int)
    due["due_date"] = pd.to_datetime(due["due_on"]).dt.date
    return _rollup(due, "training_completion", "due_date", "on_time", "eligible", LINE_GRAINS)
