"""Daily KPI rows at every grain from the conformed facts: numerator and denominator beside each value.

Rollups (line -> site -> company) sum numerators and denominators; they never average daily ratios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

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


def _sigma_from_counts(defects: Any, opportunities: Any) -> Any:
    sigma = kpis.sigma_level(kpis.ratio(defects, opportunities) * 1_000_000)
    finite = np.isfinite(np.asarray(sigma, dtype="float64"))  # zero defects: no finite sigma level, stored as NULL
    return sigma.where(finite) if isinstance(sigma, pd.Series) else np.where(finite, sigma, np.nan)


def _value_function(kpi: Kpi) -> Callable[[Any, Any], Any]:
    """How the KPI's value follows from its summed numerator and denominator (the registry says which), for Series
    or arrays alike."""
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


def group_sums(
    frame: pd.DataFrame, keys: list[str], columns: list[str], key_codes: KeyCodes | None = None
) -> pd.DataFrame:
    """The sums of ``columns`` per distinct ``keys``, in key order (a row with a missing key is left out, a missing
    value counts as 0).

    Each group sums its own rows, in their order, with numpy's pairwise sum: the result never depends on which other
    groups share the frame, so a day or a month rebuilt on its own sums to the same bits as in a full build.
    (pandas' grouped sum picks its algorithm by the frame's layout, and a lone month can round differently.)
    ``key_codes``: the frame's keys already factorized, shared by the groupings of one frame at several grains.
    """
    ids, out = _group_ids(frame, keys, key_codes)
    kept = ids >= 0
    ids = ids[kept]
    if not len(ids):
        return out.assign(**{column: pd.Series(dtype="float64") for column in columns})
    order = np.argsort(ids, kind="stable")
    starts = np.flatnonzero(np.diff(ids[order], prepend=-1))
    for column in columns:
        values = frame[column].to_numpy()[kept][order]
        if values.dtype.kind in "biu":
            values = values.astype("int64")
        else:
            values = np.nan_to_num(values.astype("float64"), nan=0.0)
        out[column] = np.add.reduceat(values, starts)
    return out


class KeyCodes:
    """A frame's key columns, each factorized in sorted order once however many groupings of the frame use it (a
    family's facts are grouped at four grains, each by the date and some of the same place columns)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def of(self, key: str) -> tuple[np.ndarray, pd.Index]:
        """Each row's code (-1 where missing) and the distinct values in order, typed as pandas' groupby types its
        keys: strings held as Python objects come back as strings."""
        if key not in self._codes:
            codes, uniques = pd.factorize(self.frame[key], sort=True)
            self._codes[key] = (codes, pd.Index(uniques.to_numpy(dtype=object)) if uniques.dtype == object else uniques)
        return self._codes[key]


# Up to this many possible key combinations per row (and at least this many), groups are numbered by marking which
# combinations occur, in linear time; beyond it by sorting the combinations.
_DENSE_KEYS = 4


def _group_ids(
    frame: pd.DataFrame, keys: list[str], key_codes: KeyCodes | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's group among the distinct ``keys``, numbered in key order as pandas' sorted groupby numbers them
    (-1 where a key is missing), and the groups' keys. From one sorted factorization per key: on a few days' facts
    pandas' groupby cost more in bookkeeping per call than the grouping itself."""
    key_codes = key_codes if key_codes is not None and key_codes.frame is frame else KeyCodes(frame)
    codes, uniques = zip(*(key_codes.of(key) for key in keys), strict=True)
    if len(keys) == 1:  # every distinct value is a group, already numbered in order
        return np.asarray(codes[0], dtype="int64"), pd.DataFrame({keys[0]: uniques[0]})
    missing = np.any([c < 0 for c in codes], axis=0)
    sizes = tuple(max(1, len(u)) for u in uniques)
    combined = np.ravel_multi_index([np.where(missing, 0, c) for c in codes], sizes)[~missing]
    possible = int(np.prod(sizes, dtype="float64"))
    if possible <= _DENSE_KEYS * max(len(combined), 250_000):
        occurs = np.zeros(possible, dtype=bool)
        occurs[combined] = True
        distinct = np.flatnonzero(occurs)
        numbered = (np.cumsum(occurs) - 1)[combined]
    else:
        distinct, numbered = np.unique(combined, return_inverse=True)
    ids = np.full(len(frame), -1, dtype="int64")
    ids[~missing] = numbered
    places = np.unravel_index(distinct, sizes)
    return ids, pd.DataFrame({k: u.take(p) for k, u, p in zip(keys, uniques, places, strict=True)})


def _with_all(frame: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Rows of ``grain``: the place columns it does not group by read ALL."""
    for dim in ("site_id", "line_id", "step_id"):
        if dim not in GRAIN_DIMENSIONS[grain]:
            frame[dim] = ALL
    frame["grain"] = grain
    return frame


def _on_days(frame: pd.DataFrame, column: str, days: set[date], keep: bool) -> pd.DataFrame:
    """The rows whose ``column`` falls on one of ``days`` (``keep``), or on none of them."""
    codes, uniques = pd.factorize(frame[column])
    on = pd.Series(pd.to_datetime(uniques)).dt.date.isin(days).to_numpy()
    hit = np.append(on, False)[codes]  # a missing date (code -1) is on no day
    return frame[hit if keep else ~hit]


def _stamps(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(values)``, each distinct value converted once (a column of Python dates converts row by row:
    17,500 training assignments took 5 ms a column)."""
    if values.dtype.kind == "M":
        return values
    codes, uniques = pd.factorize(values)
    converted = pd.to_datetime(pd.Series(uniques, dtype=object))
    return pd.Series(np.append(converted.to_numpy(), np.datetime64("NaT"))[codes], index=values.index)


def _days_of(stamps: pd.Series) -> pd.Series:
    """Each timestamp's calendar day as a Python date (``.dt.date``), made once per distinct day."""
    codes, uniques = pd.factorize(stamps.dt.normalize())
    days = np.array([*(u.date() for u in uniques), pd.NaT], dtype=object)
    return pd.Series(days[codes], index=stamps.index, dtype=object)


@dataclass(frozen=True)
class FamilyFacts:
    """A KPI family's facts, prepared for its KPIs: the frames they aggregate, each dated by ``date_column``.

    A family whose KPIs count different things (people: heads, assignments, completions) has one frame per kind of
    row; each KPI aggregates the first frame that carries its numerator's and denominator's columns.
    """

    family: str
    date_column: str
    frames: tuple[pd.DataFrame, ...]
    products: pd.DataFrame | None = None  # production: the product routes that RTY multiplies along

    def on_days(self, days: set[date] | None) -> FamilyFacts:
        """Only the rows of ``days`` (every row for ``None``)."""
        if days is None:
            return self
        frames = tuple(_on_days(f, self.date_column, days, keep=True) for f in self.frames)
        return replace(self, frames=frames)

    def without_days(self, days: set[date] | None) -> FamilyFacts:
        """Without the rows of ``days`` (held days: no KPI row, no share in a week or month)."""
        if not days:
            return self
        frames = tuple(_on_days(f, self.date_column, days, keep=False) for f in self.frames)
        return replace(self, frames=frames)

    def by_period(self, period: str) -> FamilyFacts:
        """The same rows dated by the start of their week or month instead of their day."""
        frames = tuple(f.assign(period_start=period_start(f[self.date_column], period)) for f in self.frames)
        return replace(self, date_column="period_start", frames=frames)


def kpi_rows(facts: FamilyFacts) -> Iterator[pd.DataFrame]:
    """Every KPI of the family in the registry per date and grain, from its facts, one frame at a time.

    One aggregation per frame and grain sums the numerators and denominators of every KPI that counts over that
    frame at that grain; quantiles come from the facts per grain; a route product (RTY) multiplies the step FPYs
    along the route of the product each line ran most that date.
    """
    if all(frame.empty for frame in facts.frames):
        return
    date_column = facts.date_column
    family_kpis = [kpi for kpi in REGISTRY if kpi.family == facts.family]
    summed_on: dict[int, list[Kpi]] = {}
    for kpi in family_kpis:
        if not kpi.additive:
            continue
        needed = [m.column for m in (kpi.numerator, kpi.denominator) if m is not None]
        index = next((i for i, f in enumerate(facts.frames) if all(c in f.columns for c in needed)), None)
        if index is None:
            raise ValueError(f"KPI {kpi.code}: no prepared {facts.family} rows carry {', '.join(needed)}")
        summed_on.setdefault(index, []).append(kpi)
    step_fpy: list[pd.DataFrame] = []
    key_codes = [KeyCodes(frame) for frame in facts.frames]
    for index, kpis_of_frame in summed_on.items():
        frame = facts.frames[index]
        for grain, dims in GRAIN_DIMENSIONS.items():
            at_grain = [kpi for kpi in kpis_of_frame if grain in kpi.grains]
            if not at_grain:
                continue
            columns = list(
                dict.fromkeys(m.column for kpi in at_grain for m in (kpi.numerator, kpi.denominator) if m is not None)
            )
            sums = _with_all(
                group_sums(frame, [date_column, *dims], columns, key_codes[index]).rename(
                    columns={date_column: "kpi_date"}
                ),
                grain,
            )
            # As many KPIs per frame as keep it near _ROWS_PER_FRAME rows: all of them for a few days' sums, one
            # at a time for a year's (a full build's memory holds a frame and its encoded copy, not the grain's).
            per_frame = max(1, _ROWS_PER_FRAME // max(1, len(sums)))
            for first in range(0, len(at_grain), per_frame):
                chunk = at_grain[first : first + per_frame]
                rows = _summed_rows(sums, chunk)
                if grain == "step" and "fpy" in (codes := [kpi.code for kpi in chunk]):
                    block = codes.index("fpy")
                    step_fpy.append(rows.iloc[block * len(sums) : (block + 1) * len(sums)])
                yield rows
    quantiles = [kpi for kpi in family_kpis if kpi.additivity == "quantile"]
    if quantiles:
        yield from _quantile_rows(facts.frames[0], quantiles, date_column, key_codes[0])
    if any(kpi.additivity == "route_product" for kpi in family_kpis) and step_fpy:
        products = facts.products if facts.products is not None else pd.DataFrame()
        routes = line_routes(products, facts.frames[0], date_column).rename(columns={date_column: "kpi_date"})
        yield rty_rows(step_fpy[0], "kpi_date", routes)[KPI_COLUMNS]


_ROWS_PER_FRAME = 200_000


def _summed_rows(sums: pd.DataFrame, at_grain: list[Kpi]) -> pd.DataFrame:
    """The rows of every KPI in ``at_grain`` from their grain's summed columns, one block of rows per KPI: numerator,
    denominator and the value from them. Built as whole numpy columns at once (a frame or Series per KPI cost more in
    pandas' bookkeeping than in arithmetic)."""
    numerators, denominators, values = [], [], []
    ones = np.ones(len(sums), dtype="float64")
    for kpi in at_grain:
        numerator = sums[kpi.numerator.column].to_numpy(dtype="float64")
        if kpi.denominator is None or kpi.additivity == "amount":
            denominator = ones
        else:
            denominator = sums[kpi.denominator.column].to_numpy(dtype="float64")
        numerators.append(numerator)
        denominators.append(denominator)
        values.append(np.asarray(_value_function(kpi)(numerator, denominator), dtype="float64"))
    # Columns repeated by taking rows of their own typed arrays: strings stay Arrow strings, never Python objects.
    tiled = np.tile(np.arange(len(sums)), len(at_grain))
    places = {
        column: sums[column].take(tiled).reset_index(drop=True)
        for column in ("kpi_date", "site_id", "line_id", "step_id")
    }
    codes = pd.Series([kpi.code for kpi in at_grain], dtype="str")
    return pd.DataFrame(
        {
            "kpi": codes.take(np.repeat(np.arange(len(at_grain)), len(sums))).reset_index(drop=True),
            "kpi_date": places["kpi_date"],
            "grain": sums["grain"].iloc[0] if len(sums) else None,
            "site_id": places["site_id"],
            "line_id": places["line_id"],
            "step_id": places["step_id"],
            "numerator": np.concatenate(numerators),
            "denominator": np.concatenate(denominators),
            "value": np.concatenate(values),
        },
        columns=KPI_COLUMNS,
    )


def daily_kpis(facts: FamilyFacts) -> pd.DataFrame:
    """Every KPI row of the family's facts, per day, in one frame."""
    parts = list(kpi_rows(facts))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=KPI_COLUMNS)


def period_kpis(facts: FamilyFacts, period: str) -> pd.DataFrame:
    """The family's weekly or monthly KPI rows, aggregated from the period's facts themselves: sums of counts,
    quantiles of the period's runs, products of the period's step FPYs (never averages of daily values)."""
    parts = list(kpi_rows(facts.by_period(period)))
    if not parts:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    rows = pd.concat(parts, ignore_index=True).rename(columns={"kpi_date": "period_start"})
    return rows.assign(period=period)[PERIOD_COLUMNS]


# A day, week or month as one number to group by: the kind times _BUCKET_SPAN plus the first day's ordinal.
_BUCKET = "date_bucket"
_BUCKET_KINDS = ("day", "week", "month")
_BUCKET_SPAN = 10_000_000


def _bucket(days: pd.Series, kind: str) -> np.ndarray:
    codes, uniques = pd.factorize(days)
    ordinals = np.array([pd.Timestamp(d).toordinal() for d in uniques] + [np.nan], dtype="float64")
    return ordinals[codes] + _BUCKET_KINDS.index(kind) * _BUCKET_SPAN  # a missing day stays missing (NaN)


def window_kpis(facts: FamilyFacts, days: set[date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The daily rows of ``days`` and the weekly and monthly rows of the periods that contain them, from the facts
    of those periods (``period_window``), in one aggregation: each fact row takes part once dated by its week and
    once by its month where that period contains one of ``days`` (the window's other weeks and months are not
    rebuilt), a row of ``days`` once more by its day. What an incremental build rebuilds; the groups are
    the same as in separate daily and period aggregations, and each group's result depends only on its own rows,
    so the rows are those a full build makes. Returns (daily rows, period rows)."""
    frames = []
    needed = _aggregated_columns(facts)
    wanted = {period: set(period_start(pd.Series(sorted(days)), period)) for period in ("week", "month")}
    for frame, of_days in zip(facts.frames, facts.on_days(days).frames, strict=True):
        # Only what the KPIs aggregate, before the rows are tripled (a run carries twice as many columns).
        frame, of_days = (f[[c for c in f.columns if c in needed]] for f in (frame, of_days))
        bucketed = [of_days.assign(**{_BUCKET: _bucket(of_days[facts.date_column], "day")})]
        for period in ("week", "month"):
            # Only the periods that contain a rebuilt day: the window's other month (or week) is no rebuilt period.
            starts = period_start(frame[facts.date_column], period)
            rebuilt = starts.isin(wanted[period]).to_numpy()
            bucketed.append(frame[rebuilt].assign(**{_BUCKET: _bucket(starts[rebuilt], period)}))
        frames.append(pd.concat(bucketed, ignore_index=True))
    parts = list(kpi_rows(replace(facts, date_column=_BUCKET, frames=tuple(frames))))
    if not parts:
        return pd.DataFrame(columns=KPI_COLUMNS), pd.DataFrame(columns=PERIOD_COLUMNS)
    rows = pd.concat(parts, ignore_index=True)
    codes, buckets = pd.factorize(rows["kpi_date"])
    kinds = np.array([_BUCKET_KINDS[int(b) // _BUCKET_SPAN] for b in buckets], dtype=object)[codes]
    starts = np.array([date.fromordinal(int(b) % _BUCKET_SPAN) for b in buckets], dtype=object)[codes]
    rows["kpi_date"] = starts
    daily = rows[kinds == "day"].reset_index(drop=True)
    periods = rows[kinds != "day"].rename(columns={"kpi_date": "period_start"}).assign(period=kinds[kinds != "day"])
    return daily, periods[PERIOD_COLUMNS].reset_index(drop=True)


def _aggregated_columns(facts: FamilyFacts) -> set[str]:
    """The columns of a family's facts that its KPIs read: the date, the places, what they count, and the product
    a route product follows."""
    columns = {facts.date_column, *GRAIN_DIMENSIONS["step"]}
    for kpi in REGISTRY:
        if kpi.family == facts.family:
            columns |= {m.column for m in (kpi.numerator, kpi.denominator) if m is not None}
            if kpi.additivity == "route_product":
                columns.add("product_id")
    return columns


def period_window(days: set[date]) -> set[date]:
    """Every day of the ISO weeks and calendar months that contain ``days``: what their periods aggregate."""
    window: set[date] = set()
    for period, length in (("week", pd.offsets.Week(weekday=0)), ("month", pd.offsets.MonthBegin())):
        for start in set(period_start(pd.Series(sorted(days)), period)):
            end = (pd.Timestamp(start) + length).date()
            window |= {d.date() for d in pd.date_range(start, end, inclusive="left")}
    return window


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
    """The Monday of each day's ISO week, or the first of its month (worked out once per distinct day, in plain
    Python: a build has at most a few hundred distinct days, and pandas' datetime accessors cost a millisecond a
    call, of which an incremental build makes dozens)."""
    codes, uniques = pd.factorize(pd.Series(days).reset_index(drop=True))
    first_days = [pd.Timestamp(day).date() for day in uniques]
    if period == "week":
        starts = [day - timedelta(days=day.weekday()) for day in first_days]
    else:
        starts = [day.replace(day=1) for day in first_days]
    values = np.array([*starts, None], dtype=object)[codes]
    return pd.Series(values, index=pd.Series(days).index, dtype=object)


def period_rollup(daily: pd.DataFrame, period: str) -> pd.DataFrame:
    """Weekly or monthly rows of a stock family (people) from its daily rows: a period sums its days' numerators and
    denominators (head-days), never averaging daily ratios. Flow families aggregate their facts instead
    (``period_kpis``)."""
    amounts = [k.code for k in REGISTRY if k.additivity == "amount"]
    daily = daily[daily["kpi"].isin([k.code for k in REGISTRY if k.additive])]
    if daily.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    frame = daily.assign(period_start=period_start(daily["kpi_date"], period))
    keys = ["kpi", "period_start", "grain", "site_id", "line_id", "step_id"]
    out = group_sums(frame, keys, ["numerator", "denominator"])
    out["period"] = period
    out.loc[out["kpi"].isin(amounts), "denominator"] = 1.0
    out["value"] = np.nan
    for kpi, rows in out.groupby("kpi").groups.items():
        out.loc[rows, "value"] = kpi_value(str(kpi), out.loc[rows, "numerator"], out.loc[rows, "denominator"])
    return out[PERIOD_COLUMNS]


def production_kpis(runs: pd.DataFrame, defects: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Every manufacturing KPI of KPIS.md per day and step, line, site and company.

    FPY, fraction defective, DPU, DPMO, sigma level, scrap and rework rates, OEE and its three factors, and
    cycle time (mean, median, p90); RTY per day and line. ``defects`` may be per defect row or per run totals.
    """
    if runs.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    return daily_kpis(production_facts(runs, defects, products))


def production_facts(runs: pd.DataFrame, defects: pd.DataFrame, products: pd.DataFrame) -> FamilyFacts:
    """The runs with what the manufacturing KPIs count: opportunities, defects, OEE's minutes, cycle time."""
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
    return FamilyFacts("production", "production_date", (runs,), products)


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
        _quantile_rows(frame, _quantile_kpis(), "period_start"),
        ignore_index=True,
    )
    return rows.rename(columns={"kpi_date": "period_start"}).assign(period=period)[PERIOD_COLUMNS]


def _quantile_rows(
    frame: pd.DataFrame, quantile_kpis: list[Kpi], date_column: str, key_codes: KeyCodes | None = None
) -> list[pd.DataFrame]:
    """Each quantile KPI per date and grain, one frame per KPI. Not additive: the numerator is the quantile itself and
    the denominator 1. The KPIs that take quantiles of the same column at the same grain share one grouping (the
    quantiles of a group are computed independently of each other, so the values are those of one at a time)."""
    computed: dict[tuple[str, str], tuple[pd.DataFrame, dict[float, np.ndarray]]] = {}
    for kpi in quantile_kpis:
        column = kpi.numerator.column
        for grain, dims in _grains(kpi).items():
            if (column, grain) in computed:
                continue
            sharing = [k for k in quantile_kpis if k.numerator.column == column and grain in k.grains]
            wanted = sorted({k.quantile for k in sharing if k.quantile is not None})
            groups, by_quantile = _group_quantiles(frame, [date_column, *dims], column, wanted, key_codes)
            placed = _with_all(groups.rename(columns={date_column: "kpi_date"}), grain)
            computed[(column, grain)] = (placed, by_quantile)
    places_of: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}  # shared by the KPIs of one column and grains
    results = []
    for kpi in quantile_kpis:
        if kpi.quantile is None:
            raise ValueError(f"KPI {kpi.code}: a quantile KPI without its quantile")
        column, grains = kpi.numerator.column, tuple(_grains(kpi))
        if (column, grains) not in places_of:
            places_of[(column, grains)] = pd.concat([computed[(column, g)][0] for g in grains], ignore_index=True)
        places = places_of[(column, grains)]
        numerator = np.concatenate([computed[(column, g)][1][kpi.quantile] for g in grains]).astype("float64")
        results.append(
            pd.DataFrame(
                {
                    "kpi": kpi.code,
                    **{c: places[c] for c in ("kpi_date", "grain", "site_id", "line_id", "step_id")},
                    "numerator": numerator,
                    "denominator": 1.0,
                    "value": numerator,
                },
                columns=KPI_COLUMNS,
            )
        )
    return results


# Below this many rows a grouped quantile is sorted here, above it by pandas: the two compute the same bits, but
# pandas' grouped quantile costs about 7 ms a call however few the rows (a one-day rebuild makes a dozen calls),
# while its sort in Cython beats numpy's two sorts on a year of runs (0.16 s against 0.23 s).
_SMALL_GROUPING = 50_000


def _group_quantiles(
    frame: pd.DataFrame, keys: list[str], column: str, wanted: list[float], key_codes: KeyCodes | None = None
) -> tuple[pd.DataFrame, dict[float, np.ndarray]]:
    """The ``wanted`` quantiles of ``column`` per distinct ``keys`` (the groups of ``group_sums``, in key order),
    interpolated linearly between the two nearest of a group's non-missing values; NaN for a group without values."""
    values = frame[column].to_numpy(dtype="float64")
    # -0.0 ties with 0.0, and which of the two a quantile yields follows the sort: pandas' own for those.
    if len(frame) >= _SMALL_GROUPING or np.signbit(values[values == 0]).any():
        quantiles = frame.groupby(keys)[column].quantile(wanted)
        if len(quantiles):  # (no group at all: the sorted path's empty result)
            groups = quantiles.xs(wanted[0], level=-1).index.to_frame(index=False)
            return groups, {q: quantiles.xs(q, level=-1).to_numpy(dtype="float64") for q in wanted}
    return _sorted_group_quantiles(frame, keys, column, wanted, key_codes)


def _sorted_group_quantiles(
    frame: pd.DataFrame, keys: list[str], column: str, wanted: list[float], key_codes: KeyCodes | None = None
) -> tuple[pd.DataFrame, dict[float, np.ndarray]]:
    """``_group_quantiles`` by numpy: each group's values sorted, then pandas' grouped quantile's arithmetic (the
    position q x (n - 1), the value below it and the next one's difference times the fraction), so the same bits."""
    ids, groups = _group_ids(frame, keys, key_codes)
    values = frame[column].to_numpy(dtype="float64")
    counted = (ids >= 0) & ~np.isnan(values)
    group_of, values = ids[counted], values[counted]
    # One sort by (group, value): each value's rank among all, then the group's offset above every rank.
    rank = np.empty(len(values), dtype="int64")
    rank[np.argsort(values)] = np.arange(len(values))
    ordered = values[np.argsort(group_of * max(len(values), 1) + rank)]
    counts = np.bincount(group_of, minlength=len(groups))
    starts = np.cumsum(counts) - counts
    last = max(len(ordered) - 1, 0)
    result = {}
    for q in wanted:
        position = q * (counts - 1).astype("float64")
        below = np.minimum(starts + position.astype("int64"), last)
        fraction = position % 1
        if len(ordered):
            value, above = ordered[below], ordered[np.minimum(below + 1, last)]
        else:
            value = above = np.full(len(groups), np.nan)
        interpolated = np.where(fraction == 0.0, value, value + (above - value) * fraction)
        result[q] = np.where(counts > 0, interpolated, np.nan)
    return groups, result


def line_routes(products: pd.DataFrame, runs: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """Each line's route per date (day, week or month): the steps, in order, of the product it ran most that date
    (the first by id on a tie), from the product dimension; a product without a route: the steps the line ran.

    One row per date, line and route step: ``date_column``, ``line_id``, ``position``, ``step_id``.
    """
    columns = [date_column, "line_id", "position", "step_id"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    ran = runs.groupby([date_column, "line_id", "product_id"], sort=True).size().rename("runs").reset_index()
    ran = ran.sort_values([date_column, "line_id", "runs"], ascending=[True, True, False], kind="stable")
    made = ran.drop_duplicates([date_column, "line_id"])[[date_column, "line_id", "product_id"]]
    routed = products[["product_id", "route"]] if "route" in products else pd.DataFrame(columns=["product_id", "route"])
    routed = routed[routed["route"].map(lambda r: isinstance(r, str) and r != "")]
    steps_of = routed.assign(step_id=routed["route"].str.split(",")).explode("step_id")
    steps_of["position"] = steps_of.groupby("product_id").cumcount()
    with_route = made.merge(steps_of[["product_id", "position", "step_id"]], on="product_id")
    without = made[~made["product_id"].isin(routed["product_id"])][[date_column, "line_id"]]
    ran_steps = runs[[date_column, "line_id", "step_id"]].drop_duplicates().merge(without, on=[date_column, "line_id"])
    ran_steps = ran_steps.sort_values([date_column, "line_id", "step_id"], kind="stable")
    ran_steps["position"] = ran_steps.groupby([date_column, "line_id"]).cumcount()
    both = pd.concat([with_route[columns], ran_steps[columns]], ignore_index=True)
    both["line_id"] = both["line_id"].astype(str)
    return both.sort_values(columns[:3], kind="stable").reset_index(drop=True)


def rty_rows(step_fpy: pd.DataFrame, date_column: str, routes: pd.DataFrame) -> pd.DataFrame:
    """RTY per date and line: the product of the step FPYs on the line's route that date (KPIS.md; ``routes`` as
    ``line_routes`` gives them).

    A product of ratios does not roll up by summing: the numerator carries the value and the denominator is 1;
    a week's or month's RTY is the product of that period's step FPYs, never a sum of daily RTYs.
    A route step with no FPY that day (nothing entered) leaves the day's RTY NULL.
    """
    keys = [date_column, "site_id", "line_id"]
    if step_fpy.empty:
        return pd.DataFrame(columns=KPI_COLUMNS if date_column == "kpi_date" else PERIOD_COLUMNS)
    step_fpy = step_fpy.assign(line_id=step_fpy["line_id"].astype(str))
    places = step_fpy[keys].drop_duplicates()
    # Each place's route steps, in route order (a line with no runs that date has no route: its steps as run).
    routed = places.merge(routes, on=[date_column, "line_id"])
    unrouted = step_fpy[keys + ["step_id"]].merge(
        routes[[date_column, "line_id"]].drop_duplicates(), how="left", indicator=True
    )
    unrouted = unrouted.loc[unrouted["_merge"] == "left_only", [*keys, "step_id"]]
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
    return daily_kpis(feedback_facts(feedback))


def feedback_facts(feedback: pd.DataFrame) -> FamilyFacts:
    """The responses with what NPS and CSAT count: net promoters, scored and satisfied responses."""
    frame = feedback.assign(
        response_date=_days_of(_stamps(feedback["responded_at"])),
        net_promoters=(feedback["nps_score"] >= 9).astype(int) - (feedback["nps_score"] <= 6).astype(int),
        scored=feedback["nps_score"].notna().astype(int),
        satisfied=(feedback["csat_score"] >= 4).fillna(False).astype(int),
        csat_scored=feedback["csat_score"].notna().astype(int),
    )
    return FamilyFacts("feedback", "response_date", (frame,))


def training_kpis(assignments: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Training completion per due day and line, site and company, for assignments due by ``as_of``."""
    if assignments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    return daily_kpis(training_facts(assignments, as_of))


def training_facts(assignments: pd.DataFrame, as_of: date) -> FamilyFacts:
    """The assignments due by ``as_of``, with whether each was completed on time and counts at all (not exempt)."""
    due_on = _stamps(assignments["due_on"])
    counted = due_on.dt.normalize() <= pd.Timestamp(as_of)
    due, due_on = assignments[counted].copy(), due_on[counted]
    completed = _stamps(due["completed_on"])
    due["on_time"] = (completed.notna() & (completed <= due_on) & due["status"].ne("exempt")).astype(int)
    due["eligible"] = due["status"].ne("exempt").astype(int)
    due["due_date"] = _days_of(due_on)
    return FamilyFacts("training", "due_date", (due,))


def cost_kpis(ledger: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Cost of quality by PAF category (amounts and shares), COPQ and COPQ's share of revenue, per day and site."""
    if ledger.empty and shipments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    return daily_kpis(cost_facts(ledger, shipments))


def cost_facts(ledger: pd.DataFrame, shipments: pd.DataFrame) -> FamilyFacts:
    """Ledger entries by PAF category beside the revenue of shipments, dated by their day."""
    costs = ledger.assign(day=_days_of(_stamps(ledger["booked_on"])), revenue=0.0)
    for category in PAF:
        costs[category] = costs["amount"].where(costs["category"] == category, 0.0)
    sales = shipments.assign(day=_days_of(_stamps(shipments["shipped_on"])), amount=0.0)
    frame = pd.concat([costs, sales], ignore_index=True).fillna({c: 0.0 for c in (*PAF, "amount", "revenue")})
    frame["copq_amount"] = frame["internal_failure"] + frame["external_failure"]
    return FamilyFacts("cost", "day", (frame,))


def customer_kpis(complaints: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Complaint rate per 1,000 units shipped per day and site; complaint counts per day and line."""
    if complaints.empty and shipments.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    return daily_kpis(customer_facts(complaints, shipments))


def customer_facts(complaints: pd.DataFrame, shipments: pd.DataFrame) -> FamilyFacts:
    """Complaints beside units shipped (for rates), and complaints by the line they name (for counts)."""
    received = complaints.assign(
        day=_days_of(_stamps(complaints["received_on"])),
        complaint=1,
        units=0,
        line_id=complaints["line_id"].fillna("UNASSIGNED"),
    )
    shipped = shipments.assign(day=_days_of(_stamps(shipments["shipped_on"])), complaint=0)
    # Rates over complaints and shipments together; counts of complaints by the line they name, over complaints.
    both = pd.concat([received, shipped], ignore_index=True)
    by_line = received.rename(columns={"complaint": "complaints_received"}).drop(columns="units")
    return FamilyFacts("customer", "day", (both, by_line))


def retention_rows(accounts: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Customer retention per window and site and company: (customers at end - new customers) / customers at start.

    ``windows`` has ``start`` and ``end`` (exclusive) dates and the label to file the row under (``when``).
    Retention is not additive: a month's value comes from the month's own start and end, never from daily rows.
    Every window is judged at once over the accounts (windows x accounts, like the account snapshots).
    """
    if accounts.empty or windows.empty:
        return pd.DataFrame(columns=["when", "grain", "site_id", "numerator", "denominator", "value"])
    grid = windows.merge(accounts[["site_id", "acquired_on", "churned_on"]], how="cross")
    start, end = pd.to_datetime(grid["start"]), pd.to_datetime(grid["end"])
    acquired, churned = pd.to_datetime(grid["acquired_on"]), pd.to_datetime(grid["churned_on"])
    at_start = (acquired < start) & (churned.isna() | (churned >= start))
    at_end = (acquired < end) & (churned.isna() | (churned >= end))
    new = (acquired >= start) & (acquired < end)
    counts = pd.DataFrame(
        {
            "when": grid["when"],
            "site_id": grid["site_id"],
            "kept": (at_end & ~new).astype(int),
            "at_start": at_start.astype(int),
        }
    )
    by_site = counts.groupby(["when", "site_id"], as_index=False, sort=False)[["kept", "at_start"]].sum()
    company = counts.groupby("when", as_index=False, sort=False)[["kept", "at_start"]].sum().assign(site_id=ALL)
    out = pd.concat([by_site.assign(grain="site"), company.assign(grain="company")], ignore_index=True)
    out = out.rename(columns={"kept": "numerator", "at_start": "denominator"})
    out["numerator"] = out["numerator"].astype("float64")
    out["denominator"] = out["denominator"].astype("float64")
    out["value"] = kpis.ratio(out["numerator"], out["denominator"])
    return out[["when", "grain", "site_id", "numerator", "denominator", "value"]]


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
    """How many [start, end) intervals cover each day, per site and line (an open end never closes).

    Each interval adds one from its start and takes it back from its end; a day's count is the running sum of
    its group's changes up to that day (an as-of join of days to changes, every group at once).
    """
    keys = ["site_id", "line_id"]
    stamp = "datetime64[ns]"  # one resolution on both sides of the as-of join
    frame = groups.assign(start=pd.to_datetime(starts).astype(stamp), end=pd.to_datetime(ends).astype(stamp))
    frame = frame[frame["end"].isna() | (frame["end"] > frame["start"])]  # e.g. completed before it fell due
    if frame.empty or not days:
        return pd.DataFrame(columns=[*PEOPLE_DAY_COLUMNS, "count"])
    changes = pd.concat(
        [
            frame[keys].assign(at=frame["start"], change=1),
            frame.loc[frame["end"].notna(), keys].assign(at=frame["end"], change=-1),
        ],
        ignore_index=True,
    )
    changes = changes.groupby([*keys, "at"], as_index=False)["change"].sum().sort_values([*keys, "at"])
    changes["count"] = changes.groupby(keys)["change"].cumsum()
    grid = (
        frame[keys]
        .drop_duplicates()
        .merge(pd.DataFrame({"at": pd.to_datetime(pd.Series(days)).astype(stamp)}), how="cross")
    )
    counted = pd.merge_asof(grid.sort_values("at"), changes[[*keys, "at", "count"]].sort_values("at"), on="at", by=keys)
    counted["count"] = counted["count"].fillna(0).astype("int64")
    counted["day"] = counted["at"].dt.date
    return counted.sort_values([*keys, "day"], kind="stable")[[*PEOPLE_DAY_COLUMNS, "count"]].reset_index(drop=True)


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
    return daily_kpis(FamilyFacts("people", "day", frames))


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
    position = wide.groupby(["period", "line_id"]).cumcount().to_numpy()
    wide["compliance_fpy_correlation"] = trailing_correlation(
        wide["training_compliance"].to_numpy(dtype="float64"),
        wide["first_pass_yield"].to_numpy(dtype="float64"),
        position,
    )
    return wide[columns]


def trailing_correlation(x: np.ndarray, y: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` and ``y`` over each row's trailing ``CORRELATION_WINDOW`` rows of its group (``position``:
    the row's place in its group, rows of a group consecutive), over the pairs where both are known; NaN with fewer
    than ``MIN_CORRELATION_POINTS`` pairs or no spread.

    Every window is computed from its own rows (no running sums carried from row to row), so a row's value never
    depends on rows outside its window: an incremental build that reads only the rebuilt periods and the windows
    they reach back to gets the bits of a full build.
    """
    back = np.arange(CORRELATION_WINDOW - 1, -1, -1)
    rows = np.arange(len(x))[:, None] - back[None, :]
    inside = (position[:, None] - back[None, :]) >= 0
    xs, ys = x[rows.clip(0)], y[rows.clip(0)]
    paired = inside & ~np.isnan(xs) & ~np.isnan(ys)
    count = paired.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = np.where(paired, xs, 0.0).sum(axis=1) / count
        mean_y = np.where(paired, ys, 0.0).sum(axis=1) / count
        dx = np.where(paired, xs - mean_x[:, None], 0.0)
        dy = np.where(paired, ys - mean_y[:, None], 0.0)
        r = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    return np.where((count >= MIN_CORRELATION_POINTS) & np.isfinite(r), r, np.nan)


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
