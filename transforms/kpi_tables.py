"""Daily KPI rows at every grain from the conformed facts: numerator and denominator beside each value.

Rollups (line -> site -> company) sum numerators and denominators; they never average daily ratios.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from core.kpi_registry import REGISTRY, Kpi
from core.records import ALL
from transforms import kpis

KPI_COLUMNS = ["kpi", "kpi_date", "grain", "site_id", "line_id", "step_id", "numerator", "denominator", "value"]
# The place columns each grain groups by; a grain's other place columns read ALL.
GRAIN_DIMENSIONS: dict[str, list[str]] = {
    "step": ["site_id", "line_id", "step_id"],
    "line": ["site_id", "line_id"],
    "site": ["site_id"],
    "company": [],
}
PAF = ("prevention", "appraisal", "internal_failure", "external_failure")


def _sigma_from_counts(defects: pd.Series, opportunities: pd.Series) -> pd.Series:
    sigma = kpis.sigma_level(kpis.ratio(defects, opportunities) * 1_000_000)
    return sigma.where(np.isfinite(sigma))  # zero defects: no finite sigma level, stored as NULL


def _value_function(kpi: Kpi) -> Callable[[pd.Series, pd.Series], pd.Series]:
    """How the KPI's value follows from its summed numerator and denominator (the registry says which)."""
    if kpi.additivity == "amount":
        return lambda n, d: n.astype("float64")
    if kpi.code == "sigma_level":  # the one value that is not a scaled ratio (KPIS.md: NormInv with the 1.5 shift)
        return _sigma_from_counts
    if kpi.scale == 1:
        return kpis.ratio
    return lambda n, d: kpis.ratio(n, d) * kpi.scale


def kpi_value(kpi: str, numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """The KPI's value from summed numerators and denominators: the one place that turns counts into values, for
    daily rows, rollups and weekly/monthly periods alike. (Products of ratios and quantiles have none: their rows
    carry the value as the numerator.)"""
    return _value_function(REGISTRY[kpi])(numerator, denominator)


def _grains(kpi: Kpi) -> dict[str, list[str]]:
    return {grain: GRAIN_DIMENSIONS[grain] for grain in kpi.grains}


def _rollup(frame: pd.DataFrame, kpi: Kpi, date_column: str) -> pd.DataFrame:
    """One KPI per day at each of its grains: summed numerator and denominator, then the value from them."""
    numerator = kpi.numerator.column
    denominator = kpi.denominator.column if kpi.denominator is not None else None
    summed_columns = [numerator] if denominator is None else [numerator, denominator]
    parts = []
    for grain, dims in _grains(kpi).items():
        summed = frame.groupby([date_column, *dims], as_index=False)[summed_columns].sum()
        summed = summed.rename(columns={date_column: "kpi_date", numerator: "numerator"})
        summed["denominator"] = 1.0 if denominator is None else summed[denominator]
        for dim in ("site_id", "line_id", "step_id"):
            if dim not in dims:
                summed[dim] = ALL
        summed["grain"] = grain
        parts.append(summed)
    out = pd.concat(parts, ignore_index=True)
    out["numerator"] = out["numerator"].astype("float64")
    out["denominator"] = out["denominator"].astype("float64")
    out["kpi"] = kpi.code
    if kpi.additivity == "amount":
        out["denominator"] = 1.0
    out["value"] = kpi_value(kpi.code, out["numerator"], out["denominator"])
    return out[KPI_COLUMNS]


def _family_rows(family: str, date_column: str, *frames: pd.DataFrame) -> list[pd.DataFrame]:
    """The daily rows of every summed KPI (ratios and amounts) of ``family`` in the registry.

    Each KPI is rolled up from the first of ``frames`` (the family's prepared rows) that carries its numerator and
    denominator columns; a family whose KPIs count different things (people: heads, assignments, completions)
    hands over one frame per kind of row.
    """
    out = []
    for kpi in REGISTRY:
        if kpi.family != family or kpi.additivity not in ("ratio", "amount"):
            continue
        needed = [m.column for m in (kpi.numerator, kpi.denominator) if m is not None]
        frame = next((f for f in frames if all(c in f.columns for c in needed)), None)
        if frame is None:
            raise ValueError(f"KPI {kpi.code}: no prepared {family} rows carry {', '.join(needed)}")
        out.append(_rollup(frame, kpi, date_column))
    return out


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


def period_rollup(daily: pd.DataFrame, period: str, routes: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Weekly or monthly KPI rows from daily rows: summed numerators and denominators, never averaged ratios.

    Quantiles come from the facts instead (``period_cycle_quantiles``); RTY is the product of the period's step
    FPYs on each line's route.
    """
    non_additive = [k.code for k in REGISTRY if not k.additive]
    amounts = [k.code for k in REGISTRY if k.additivity == "amount"]
    daily = daily[~daily["kpi"].isin(non_additive)]
    if daily.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    frame = daily.assign(period_start=period_start(daily["kpi_date"], period))
    keys = ["kpi", "period_start", "grain", "site_id", "line_id", "step_id"]
    out = frame.groupby(keys, as_index=False)[["numerator", "denominator"]].sum()
    out["period"] = period
    out.loc[out["kpi"].isin(amounts), "denominator"] = 1.0
    out["value"] = np.nan
    for kpi, rows in out.groupby("kpi").groups.items():
        out.loc[rows, "value"] = kpi_value(str(kpi), out.loc[rows, "numerator"], out.loc[rows, "denominator"])
    step_fpy = out[(out["kpi"] == "fpy") & (out["grain"] == "step")]
    if not step_fpy.empty and routes is not None:
        out = pd.concat([out, rty_rows(step_fpy, "period_start", routes).assign(period=period)], ignore_index=True)
    return out[PERIOD_COLUMNS]


def production_kpis(runs: pd.DataFrame, defects: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Every manufacturing KPI of KPIS.md per day and step, line, site and company.

    FPY, fraction defective, DPU, DPMO, sigma level, scrap and rework rates, OEE and its three factors, and
    cycle time (mean, median, p90); RTY per day and line. ``defects`` may be per defect row or per run totals.
    """
    if runs.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    runs = runs.merge(products[["product_id", "opportunities_per_unit"]], on="product_id", how="left")
    runs["opportunities"] = runs["units_inspected"] * runs["opportunities_per_unit"].fillna(0)
    defect_totals = defects.groupby("run_id", as_index=False)["defect_count"].sum()
    runs = runs.merge(defect_totals, on="run_id", how="left")
    runs["defect_count"] = runs["defect_count"].fillna(0)
    # OEE in minutes: run = planned - down; ideal = ideal cycle x units; fully productive = ideal cycle x good units.
    runs["run_minutes"] = runs["planned_minutes"] - runs["downtime_minutes"]
    runs["ideal_minutes"] = runs["ideal_cycle_seconds"] * runs["units_entered"] / 60
    runs["good_ideal_minutes"] = runs["ideal_cycle_seconds"] * runs["units_first_pass"] / 60
    runs["cycle_minutes"] = cycle_minutes(runs)
    runs["run_count"] = 1
    day = "production_date"
    frames = _family_rows("production", day, runs)
    frames += [_quantile_rollup(runs, kpi, day) for kpi in _quantile_kpis()]
    daily = pd.concat(frames, ignore_index=True)
    fpy = daily[(daily["kpi"] == "fpy") & (daily["grain"] == "step")]  # RTY: the product of the step FPYs
    return pd.concat([daily, rty_rows(fpy, "kpi_date", line_routes(products, runs))], ignore_index=True)


def _quantile_kpis() -> list[Kpi]:
    return [kpi for kpi in REGISTRY if kpi.additivity == "quantile"]


def cycle_minutes(runs: pd.DataFrame) -> pd.Series:
    """Each run's process cycle time in minutes: finished_at - started_at (KPIS.md)."""
    return (pd.to_datetime(runs["finished_at"]) - pd.to_datetime(runs["started_at"])).dt.total_seconds() / 60


def period_cycle_quantiles(runs: pd.DataFrame, period: str) -> pd.DataFrame:
    """Median and p90 cycle time per week or month and grain, from the period's runs themselves.

    Quantiles don't roll up from daily values (the median of daily medians is not the period's median), so
    these rows come from the facts, unlike the summed-count rollups of ``period_rollup``.
    """
    if runs.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    frame = runs.assign(period_start=period_start(runs["production_date"], period), cycle_minutes=cycle_minutes(runs))
    rows = pd.concat(
        [_quantile_rollup(frame, kpi, "period_start") for kpi in _quantile_kpis()],
        ignore_index=True,
    )
    return rows.rename(columns={"kpi_date": "period_start"}).assign(period=period)[PERIOD_COLUMNS]


def _quantile_rollup(frame: pd.DataFrame, kpi: Kpi, date_column: str) -> pd.DataFrame:
    """A quantile per day and grain. Not additive: numerator is the quantile itself and denominator 1."""
    column = kpi.numerator.column
    parts = []
    for grain, dims in _grains(kpi).items():
        out = frame.groupby([date_column, *dims], as_index=False)[column].quantile(kpi.quantile)
        out = out.rename(columns={date_column: "kpi_date", column: "numerator"})
        for dim in ("site_id", "line_id", "step_id"):
            if dim not in dims:
                out[dim] = ALL
        out["grain"] = grain
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    return result.assign(kpi=kpi.code, denominator=1.0, value=result["numerator"].astype("float64"))[KPI_COLUMNS]


def line_routes(products: pd.DataFrame, runs: pd.DataFrame) -> dict[str, list[str]]:
    """Each line's route: the steps of the product it makes, in order (from the product dimension)."""
    route_of = {
        row.product_id: str(row.route).split(",")
        for row in products.itertuples()
        if isinstance(getattr(row, "route", None), str) and row.route
    }
    routes: dict[str, list[str]] = {}
    for line_id, product_id in runs.groupby("line_id")["product_id"].agg(lambda p: p.mode().iloc[0]).items():
        routes[str(line_id)] = route_of.get(
            product_id, sorted(runs.loc[runs["line_id"] == line_id, "step_id"].unique())
        )
    return routes


def rty_rows(step_fpy: pd.DataFrame, date_column: str, routes: dict[str, list[str]]) -> pd.DataFrame:
    """RTY per date and line: the product of the step FPYs on the line's route (KPIS.md).

    A product of ratios does not roll up by summing: the numerator carries the value and the denominator is 1;
    a week's or month's RTY is the product of that period's step FPYs, never a sum of daily RTYs.
    A route step with no FPY that day (nothing entered) leaves the day's RTY NULL.
    """
    keys = [date_column, "site_id", "line_id"]
    if step_fpy.empty:
        return pd.DataFrame(columns=KPI_COLUMNS if date_column == "kpi_date" else PERIOD_COLUMNS)
    step_fpy = step_fpy.assign(line_id=step_fpy["line_id"].astype(str))
    places = step_fpy[keys].drop_duplicates()
    # Each place's route steps, in route order: the line's route, else (a line without one) the steps it ran.
    route_steps = pd.DataFrame(
        [(line, position, step) for line, steps in routes.items() for position, step in enumerate(steps)],
        columns=["line_id", "position", "step_id"],
    )
    routed = places.merge(route_steps, on="line_id")
    unrouted = step_fpy.loc[~step_fpy["line_id"].isin(list(routes)), [*keys, "step_id"]]
    steps = pd.concat([routed, unrouted.assign(position=0)], ignore_index=True)
    steps = steps.merge(step_fpy[[*keys, "step_id", "value"]], on=[*keys, "step_id"], how="left")
    steps = steps.sort_values([*keys, "position"], kind="stable")
    # A route step with no FPY (not run, or nothing entered) makes the product unknown, as kpis.rty says.
    unknown = steps["value"].isna().groupby([steps[k] for k in keys]).any()
    product = steps.groupby(keys)["value"].prod().where(~unknown)
    out = places.merge(product.rename("value").reset_index(), on=keys, how="left").sort_values(keys)
    out = out.reset_index(drop=True)
    out["numerator"] = out["value"].fillna(0.0)
    out["value"] = out["value"].where(out["value"].notna(), None).astype("float64")
    return out.assign(kpi="rty", grain="line", step_id=ALL, denominator=1.0)


# The feedback KPIs of any group of responses (a customer segment, say): the response column and the formula.
SEGMENT_SCORES: dict[str, tuple[str, Callable[[pd.Series], float]]] = {
    "nps": ("nps_score", kpis.nps),
    "csat": ("csat_score", kpis.csat),
}


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
    return pd.concat(_family_rows("feedback", "response_date", frame), ignore_index=True)


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
    return pd.concat(_family_rows("training", "due_date", due), ignore_index=True)


def cost_kpis(ledger: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Cost of quality by PAF category (amounts and shares), COPQ and COPQ's share of revenue, per day and site."""
    if ledger.empty and shipments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    costs = ledger.assign(day=pd.to_datetime(ledger["booked_on"]).dt.date, revenue=0.0)
    for category in PAF:
        costs[category] = costs["amount"].where(costs["category"] == category, 0.0)
    sales = shipments.assign(day=pd.to_datetime(shipments["shipped_on"]).dt.date, amount=0.0)
    frame = pd.concat([costs, sales], ignore_index=True).fillna({c: 0.0 for c in (*PAF, "amount", "revenue")})
    frame["copq_amount"] = frame["internal_failure"] + frame["external_failure"]
    return pd.concat(_family_rows("cost", "day", frame), ignore_index=True)


def customer_kpis(complaints: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Complaint rate per 1,000 units shipped per day and site; complaint counts per day and line."""
    if complaints.empty and shipments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    received = complaints.assign(
        day=pd.to_datetime(complaints["received_on"]).dt.date,
        complaint=1,
        units=0,
        line_id=complaints["line_id"].fillna("UNASSIGNED"),
    )
    shipped = shipments.assign(day=pd.to_datetime(shipments["shipped_on"]).dt.date, complaint=0)
    # Rates over complaints and shipments together; counts of complaints by the line they name, over complaints.
    both = pd.concat([received, shipped], ignore_index=True)
    by_line = received.rename(columns={"complaint": "complaints_received"}).drop(columns="units")
    return pd.concat(_family_rows("customer", "day", both, by_line), ignore_index=True)


def retention_rows(accounts: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Customer retention per window and site and company: (customers at end - new customers) / customers at start.

    ``windows`` has ``start`` and ``end`` (exclusive) dates and the label to file the row under (``when``).
    Retention is not additive: a month's value comes from the month's own start and end, never from daily rows.
    """
    if accounts.empty or windows.empty:
        return pd.DataFrame(columns=["when", "grain", "site_id", "numerator", "denominator", "value"])
    acquired = pd.to_datetime(accounts["acquired_on"])
    churned = pd.to_datetime(accounts["churned_on"])
    parts = []
    for window in windows.itertuples(index=False):
        start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
        at_start = (acquired < start) & (churned.isna() | (churned >= start))
        at_end = (acquired < end) & (churned.isna() | (churned >= end))
        new = (acquired >= start) & (acquired < end)
        counts = pd.DataFrame(
            {"site_id": accounts["site_id"], "kept": (at_end & ~new).astype(int), "at_start": at_start.astype(int)}
        )
        by_site = counts.groupby("site_id", as_index=False)[["kept", "at_start"]].sum().assign(grain="site")
        company = pd.DataFrame(
            {
                "site_id": [ALL],
                "kept": [counts["kept"].sum()],
                "at_start": [counts["at_start"].sum()],
                "grain": ["company"],
            }
        )
        parts.append(pd.concat([by_site, company], ignore_index=True).assign(when=window.when))
    out = pd.concat(parts, ignore_index=True).rename(columns={"kept": "numerator", "at_start": "denominator"})
    out["numerator"] = out["numerator"].astype("float64")
    out["denominator"] = out["denominator"].astype("float64")
    out["value"] = kpis.ratio(out["numerator"], out["denominator"])
    return out


def retention_kpis(accounts: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """Daily customer retention for the given days."""
    windows = pd.DataFrame({"start": days, "end": [d + pd.Timedelta(days=1) for d in days], "when": days})
    rows = retention_rows(accounts, windows)
    if rows.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    return rows.rename(columns={"when": "kpi_date"}).assign(kpi="customer_retention", line_id=ALL, step_id=ALL)[
        KPI_COLUMNS
    ]


def retention_periods(accounts: pd.DataFrame, starts: list[date], period: str) -> pd.DataFrame:
    """Weekly or monthly customer retention from each period's own start and end."""
    step = pd.offsets.Week(1) if period == "week" else pd.offsets.MonthBegin(1)
    windows = pd.DataFrame({"start": starts, "end": [(pd.Timestamp(s) + step).date() for s in starts], "when": starts})
    rows = retention_rows(accounts, windows)
    if rows.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    return rows.rename(columns={"when": "period_start"}).assign(
        kpi="customer_retention", period=period, line_id=ALL, step_id=ALL
    )[PERIOD_COLUMNS]


PEOPLE_DAY_COLUMNS = ["day", "site_id", "line_id"]


def _covering(starts: pd.Series, ends: pd.Series, groups: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """How many [start, end) intervals cover each day, per site and line (an open end never closes)."""
    day_values = pd.to_datetime(pd.Series(days)).to_numpy()
    frame = groups.assign(start=pd.to_datetime(starts), end=pd.to_datetime(ends).fillna(pd.Timestamp.max))
    frame = frame[frame["end"] > frame["start"]]  # e.g. completed before it fell due: never overdue
    parts = []
    for (site_id, line_id), rows in frame.groupby(["site_id", "line_id"]):
        begun = np.searchsorted(np.sort(rows["start"].to_numpy()), day_values, side="right")
        ended = np.searchsorted(np.sort(rows["end"].to_numpy()), day_values, side="right")
        parts.append(pd.DataFrame({"day": days, "site_id": site_id, "line_id": line_id, "count": begun - ended}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*PEOPLE_DAY_COLUMNS, "count"])


def people_kpis(
    employees: pd.DataFrame,
    courses: pd.DataFrame,
    requirements: pd.DataFrame,
    assignments: pd.DataFrame,
    days: list[date],
) -> pd.DataFrame:
    """Training compliance, overdue training (count and share), assessment score and pass rate, and training
    hours per employee, per day and line, site and company (KPIS.md, People)."""
    if employees.empty or not days:
        return pd.DataFrame(columns=KPI_COLUMNS)
    day_stamps = pd.DataFrame({"day": pd.to_datetime(pd.Series(days))})
    staff = employees.assign(hired=pd.to_datetime(employees["hired_on"]), left=pd.to_datetime(employees["left_on"]))
    active = day_stamps.merge(staff, how="cross")
    active = active[(active["hired"] <= active["day"]) & (active["left"].isna() | (active["left"] > active["day"]))]

    # Compliance: every required course of the role completed, and that completion still valid on the day.
    needed = active[["day", "employee_id", "role"]].merge(requirements[["role", "course_id"]], on="role")
    done = assignments[assignments["completed_on"].notna() & assignments["status"].eq("completed")].copy()
    done["completed"] = pd.to_datetime(done["completed_on"])
    for key in ("employee_id", "course_id"):  # one dtype on both sides, also when a side is empty (no requirements)
        needed[key], done[key] = needed[key].astype(object), done[key].astype(object)
    latest = pd.merge_asof(
        needed.sort_values("day"),
        done[["employee_id", "course_id", "completed"]].sort_values("completed"),
        left_on="day",
        right_on="completed",
        by=["employee_id", "course_id"],
        direction="backward",
    )
    latest = latest.merge(courses[["course_id", "validity_days"]], on="course_id", how="left")
    latest["valid"] = latest["completed"].notna() & (
        latest["completed"] + pd.to_timedelta(latest["validity_days"].fillna(0), unit="D") > latest["day"]
    )
    holds_all = latest.groupby(["day", "employee_id"])["valid"].all().rename("compliant").reset_index()
    active = active.merge(holds_all, on=["day", "employee_id"], how="left")
    active["compliant"] = active["compliant"].fillna(True).astype(int)  # a role with no requirement is compliant
    active["headcount"] = 1

    # Overdue: past due and not completed that day; share of the assignments open that day.
    live = assignments[assignments["status"].ne("exempt")]
    groups = live[["site_id", "line_id"]]
    completed_at = pd.to_datetime(live["completed_on"])
    overdue = _covering(pd.to_datetime(live["due_on"]) + pd.Timedelta(days=1), completed_at, groups, days)
    open_ = _covering(pd.to_datetime(live["assigned_on"]), completed_at, groups, days)
    stock = overdue.rename(columns={"count": "overdue"}).merge(
        open_.rename(columns={"count": "open"}), on=PEOPLE_DAY_COLUMNS
    )

    # Flows on the completion day: hours (per active head) and assessment scores against the pass mark.
    flows = done.merge(courses[["course_id", "hours", "pass_mark"]], on="course_id", how="left")
    flows = flows.assign(
        day=flows["completed"],
        scored=flows["score"].notna().astype(int),
        passed=(flows["score"] >= flows["pass_mark"]).astype(int),
        score_sum=flows["score"].fillna(0.0),
        hours=flows["hours"].fillna(0.0),
    )
    flows = flows[flows["day"].isin(day_stamps["day"])]
    heads = active[["day", "site_id", "line_id", "headcount"]]
    hours = pd.concat([flows[["day", "site_id", "line_id", "hours"]], heads], ignore_index=True).fillna(0.0)

    def dated(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(day=pd.to_datetime(frame["day"]).dt.date)

    # One frame per kind of row: heads, assignment stocks, hours beside heads, completions.
    frames = (dated(active), dated(stock), dated(hours), dated(flows))
    return pd.concat(_family_rows("people", "day", *frames), ignore_index=True)


CROSS_SOURCE_KPIS = {
    "training_compliance": "training_compliance",
    "training_completion": "training_completion",
    "fpy": "first_pass_yield",
    "dpmo": "dpmo",
    "complaints": "complaints",
}
CORRELATION_WINDOW = 8  # trailing periods, the current one included
MIN_CORRELATION_POINTS = 4


def training_vs_outcomes(periods: pd.DataFrame) -> pd.DataFrame:
    """Per line and week or month: training next to yield, DPMO and complaints (KPIS.md, Cross-source).

    ``compliance_fpy_correlation`` is Pearson's r of training compliance and FPY over the trailing
    ``CORRELATION_WINDOW`` periods of the line, NULL with fewer than ``MIN_CORRELATION_POINTS`` pairs.
    """
    columns = [
        "period",
        "period_start",
        "site_id",
        "line_id",
        *CROSS_SOURCE_KPIS.values(),
        "compliance_fpy_correlation",
    ]
    rows = periods[(periods["grain"] == "line") & periods["kpi"].isin(list(CROSS_SOURCE_KPIS))]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    wide = (
        rows.pivot_table(
            index=["period", "period_start", "site_id", "line_id"], columns="kpi", values="value", aggfunc="first"
        )
        .reset_index()
        .rename(columns=CROSS_SOURCE_KPIS)
    )
    for column in CROSS_SOURCE_KPIS.values():
        if column not in wide:
            wide[column] = np.nan
    wide = wide.sort_values(["period", "line_id", "period_start"]).reset_index(drop=True)
    wide["compliance_fpy_correlation"] = wide.groupby(["period", "line_id"], group_keys=False)[
        ["training_compliance", "first_pass_yield"]
    ].apply(
        lambda g: (
            g["training_compliance"]
            .rolling(CORRELATION_WINDOW, min_periods=MIN_CORRELATION_POINTS)
            .corr(g["first_pass_yield"])
        )
    )
    wide["compliance_fpy_correlation"] = wide["compliance_fpy_correlation"].where(
        np.isfinite(wide["compliance_fpy_correlation"])
    )
    return wide[columns]


def customer_snapshots(accounts: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """One row per customer account and day while it exists: active at the day's end, new, or churned that day."""
    columns = ["snapshot_date", "customer_id", "site_id", "segment", "is_active", "is_new", "churned"]
    if accounts.empty or not days:
        return pd.DataFrame(columns=columns)
    grid = pd.DataFrame({"snapshot_date": pd.to_datetime(pd.Series(days))}).merge(accounts, how="cross")
    acquired, churned = pd.to_datetime(grid["acquired_on"]), pd.to_datetime(grid["churned_on"])
    exists = (acquired <= grid["snapshot_date"]) & (churned.isna() | (churned >= grid["snapshot_date"]))
    grid = grid[exists].assign(
        is_active=lambda g: (
            pd.to_datetime(g["churned_on"]).isna() | (pd.to_datetime(g["churned_on"]) > g["snapshot_date"])
        ),
        is_new=lambda g: pd.to_datetime(g["acquired_on"]) == g["snapshot_date"],
        churned=lambda g: pd.to_datetime(g["churned_on"]) == g["snapshot_date"],
    )
    grid["snapshot_date"] = grid["snapshot_date"].dt.date
    return grid[columns].reset_index(drop=True)
