"""Judge KPI series by the configured rules, day by day, and group the adverse days into regression episodes.

Each day is judged against a trailing baseline of in-control days (``KPIS.md``: the 28 days before it by default),
so a lasting regression never becomes its own baseline. An episode begins on its first adverse day and resolves
after ``resolve_after_days`` judged days back in control; while it lasts, later adverse days update it, so a
regression raises one alert, not one per day. Everything here is a pure function of the KPI history: a rerun
finds the same episodes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from core.alert_rules import CHARTS, COUNT_CHARTS, DRIFT_CHARTS, Rule
from transforms.spc import (
    RUN_RULE_SIGMAS,
    cusum_chart,
    ewma_chart,
    imr_chart,
    laney_p_chart,
    laney_u_chart,
    nelson,
    overdispersion,
    p_chart,
    probability_line,
    probability_p_chart,
    probability_u_chart,
    u_chart,
    western_electric,
)

PLACE_COLUMNS = ("site_id", "line_id", "step_id")
RUN_LENGTH = 8  # the longest Western Electric pattern (rule 4)
NELSON_RUN_LENGTH = 15  # the longest Nelson pattern (rule 7: fifteen in a row within 1 sigma)
# The days a drift chart accumulates over, after its baseline: long enough for a slow drift to sum up, short enough
# to leave a baseline in a quarter's history.
DRIFT_WINDOW_DAYS = 28
DISPERSION_HISTORY_DAYS = 91  # a quarter: how far back a Laney rule tests the place's counts for overdispersion
# The run rules without a direction (Nelson 7 and 8 look at both sides of the centre line at once).
EITHER_SIDE_RULES = ("nelson_7", "nelson_8")
# ``fired``: what fired in the adverse direction, as a code ("rule_2", "nelson_3"; for the other methods the method:
# "target", "drop", "ewma", "cusum", "leading"), else "". ``limit``: the line the judgement was made against on the
# adverse side: the fired run rule's own line (the 2-sigma line for rule 2, the centre line for rule 4), the target,
# the baseline less the allowed drop, the drift chart's bound. ``opposite_limit``: the other side's line, for the
# rules that look at both (NaN otherwise). ``run_days``: the CUSUM's current run.
JUDGED_COLUMNS = [
    "kpi_date", "value", "centre", "lower", "upper", "sample_size", "fired", "adverse", "beyond",
    "limit", "opposite_limit", "run_days",
]  # fmt: skip


@dataclass(frozen=True)
class Episode:
    """One regression of one KPI at one place: from its first adverse day to its resolution (or still open)."""

    rule: Rule
    site_id: str
    line_id: str
    step_id: str
    since_date: date
    last_date: date  # the latest adverse day
    days_adverse: int
    value: float  # on the latest adverse day
    centre: float
    limit: float  # the line the fired rule judged it against (the 2-sigma line for rule 2, the target, ...)
    sample_size: float
    fired: str  # what fired on the latest adverse day, as a code: a run rule ("rule_2") or the method ("target")
    resolved_date: date | None
    contributors: list[dict[str, object]] = field(default_factory=list)
    opposite_limit: float = float("nan")  # for a rule that looks at both sides (Nelson 7, 8): the other side's line
    run_days: int = 0  # for a CUSUM: how many days its current run has lasted

    @property
    def fingerprint(self) -> str:
        """The same rule at the same place: consecutive days update one alert."""
        return hashlib.sha256(f"{self.rule.name}|{self.site_id}|{self.line_id}|{self.step_id}".encode()).hexdigest()[
            :32
        ]

    @property
    def alert_id(self) -> str:
        return hashlib.sha256(f"{self.fingerprint}|{self.since_date}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DailySeries:
    """One place's judged series as arrays: a rule reads a few of its points per judged day."""

    kpi_date: list[object]  # as given: the judged rows carry the caller's dates
    dates: np.ndarray  # datetime64, for the day arithmetic of baselines and windows
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray

    @classmethod
    def of(cls, days: pd.DataFrame) -> DailySeries:
        return cls(
            days["kpi_date"].tolist(),
            pd.to_datetime(days["kpi_date"]).to_numpy(),
            days["value"].to_numpy(dtype="float64"),
            days["numerator"].to_numpy(dtype="float64"),
            days["denominator"].to_numpy(dtype="float64"),
        )


def judge_series(series: pd.DataFrame, rule: Rule, excluded_days: frozenset[date] = frozenset()) -> pd.DataFrame:
    """Judge one place's daily series (``kpi_date``, ``numerator``, ``denominator``, ``value``) by ``rule``.

    Returns one row per judged day: the value, the centre and limits it was judged against, ``fired`` (the rule
    that fired in the adverse direction, else ""), ``adverse``, and ``beyond`` (outside a 3-sigma limit on either
    side, which keeps the day out of later baselines). Days without enough baseline are not judged.
    ``excluded_days`` (taken out by hand, ``qp alerts exclude``) are judged but never enter a later baseline.
    """
    frame = series.dropna(subset=["value"]).sort_values("kpi_date").reset_index(drop=True)
    if rule.window_days > 1:
        frame = _pooled_over(frame, rule.window_days)
    if rule.method in COUNT_CHARTS:
        frame = frame[frame["denominator"] > 0].reset_index(drop=True)
    days = DailySeries.of(frame)
    excluded = np.zeros(len(frame), dtype=bool)
    if excluded_days:
        excluded = np.array(pd.to_datetime(frame["kpi_date"]).dt.date.isin(excluded_days), dtype=bool)  # writable
    judged = []
    for i in range(len(frame)):
        if rule.method == "target":
            judged.append(_judge_target(days, i, rule))
            continue
        # A drift chart sums the last DRIFT_WINDOW_DAYS against the baseline before them: a trailing baseline that
        # took in the drifting days would drift with them.
        baseline = _baseline(days.dates, excluded, i, rule, DRIFT_WINDOW_DAYS if rule.method in DRIFT_CHARTS else 0)
        if baseline is None:
            continue
        if rule.method in CHARTS:
            row = _judge_chart(days, baseline, i, rule, _history(days.dates, excluded, i))
        else:
            row = (_judge_drift if rule.method in DRIFT_CHARTS else _judge_drop)(days, baseline, i, rule)
        excluded[i] = excluded[i] or row["beyond"] or row["adverse"]
        judged.append(row)
    return pd.DataFrame(judged, columns=JUDGED_COLUMNS)


def _pooled_over(days: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Each day's value pooled over the trailing ``window_days`` calendar days, weighted by the denominators."""
    indexed = days.set_index(pd.to_datetime(days["kpi_date"]))
    weight = indexed["denominator"].where(indexed["denominator"] > 0, 1.0)
    window = f"{window_days}D"
    pooled = (indexed["value"] * weight).rolling(window).sum() / weight.rolling(window).sum()
    return days.assign(
        value=pooled.to_numpy(),
        numerator=indexed["numerator"].rolling(window).sum().to_numpy(),
        denominator=indexed["denominator"].rolling(window).sum().to_numpy(),
    )


def _baseline(dates: np.ndarray, excluded: np.ndarray, i: int, rule: Rule, gap_days: int = 0) -> np.ndarray | None:
    """Indices of the in-control days in the trailing window before day ``i`` (at least ``min_baseline_days``),
    ending ``gap_days`` before it."""
    end = dates[i] - np.timedelta64(gap_days, "D")
    earlier = np.flatnonzero(~excluded[:i])
    earlier = earlier[dates[earlier] <= end] if gap_days else earlier
    window_start = end - np.timedelta64(rule.baseline_days, "D")
    in_window = earlier[dates[earlier] >= window_start]
    minimum = rule.min_baseline_days or 0
    if len(in_window) < minimum:
        in_window = earlier[-minimum:]  # a lasting regression empties the window: the last in-control days
    return in_window if len(in_window) >= minimum and len(in_window) > 1 else None


def _history(dates: np.ndarray, excluded: np.ndarray, i: int) -> np.ndarray:
    """The in-control days of the ``DISPERSION_HISTORY_DAYS`` before day ``i``: where a Laney rule learns how much
    the place's counts vary beyond the binomial (Poisson) model."""
    earlier = np.flatnonzero(~excluded[:i])
    return earlier[dates[earlier] >= dates[i] - np.timedelta64(DISPERSION_HISTORY_DAYS, "D")]


def _judge_chart(days: DailySeries, baseline: np.ndarray, i: int, rule: Rule, history: np.ndarray) -> dict[str, object]:
    # The chart over the baseline days followed by the last points up to day i: the baseline sets the limits,
    # and the trailing points are what the run rules look at.
    longest = NELSON_RUN_LENGTH if any(r.startswith("nelson_") for r in rule.rules) else RUN_LENGTH
    window = np.arange(max(0, i - longest + 1), i + 1)
    points = np.concatenate([baseline, window])
    mask = np.arange(len(points)) < len(baseline)
    counts, sizes = days.numerator[points], days.denominator[points]
    if rule.method in ("laney_p", "laney_u"):
        kind = "p" if rule.method == "laney_p" else "u"
        past = (days.numerator[history], days.denominator[history])
        chart = _laney_where_needed(counts, sizes, mask, kind, *past)
    elif rule.method == "p_chart":
        chart = p_chart(counts, sizes, baseline=mask)
    elif rule.method == "u_chart":
        chart = u_chart(counts, sizes, baseline=mask)
    else:
        chart, _ = imr_chart(days.value[points], baseline=mask)
    recent = chart.iloc[len(baseline) :]
    side = "above" if rule.adverse == "up" else "below"
    # A chart with probability limits is read on its points' normal scores (centre 0, sigma 1).
    scored = "normal_score" in recent
    values, centre, sigma = (
        (recent["normal_score"], 0.0, 1.0) if scored else (recent["value"], recent["cl"], recent["sigma"])
    )
    flags = western_electric(values, centre, sigma, side=side).iloc[-1].to_dict()
    if any(r.startswith("nelson_") for r in rule.rules):
        flags |= nelson(values, centre, sigma, side=side).iloc[-1].to_dict()
    fired = next((r for r in rule.rules if bool(flags[r])), "")
    today = recent.iloc[-1]
    value, centre, lower, upper = float(days.value[i]), *(float(today[c]) for c in ("cl", "lcl", "ucl"))

    def line(sigmas: int, above: bool) -> float:
        """The day's line ``sigmas`` from the centre, in the KPI's unit: where the run rules drew their zone."""
        if sigmas == 0:
            return centre
        if sigmas == 3:
            return upper if above else lower
        if scored:  # zones of normal scores: the counts' own tails at the day's sample size
            kind = "p" if rule.method == "laney_p" else "u"
            return probability_line(kind, centre, float(days.denominator[i]), sigmas, above)
        return centre + (sigmas if above else -sigmas) * float(today["sigma"])

    sigmas, up = RUN_RULE_SIGMAS[fired or "rule_1"], rule.adverse == "up"
    lines = (line(sigmas, up), line(sigmas, not up) if fired in EITHER_SIDE_RULES else float("nan"))
    return _row(days, i, value, centre, lower, upper, fired, bool(fired), bool(today["out_of_control"]), *lines)


def _laney_where_needed(
    counts: np.ndarray,
    sizes: np.ndarray,
    mask: np.ndarray,
    kind: str,
    past_counts: np.ndarray,
    past_sizes: np.ndarray,
) -> pd.DataFrame:
    """Laney's p' (u') chart where the place's recent history is over- or underdispersed, else the p- (u-) chart with
    probability limits.

    The dispersion test (``transforms.spc.overdispersion``) runs on the in-control days of the last
    ``DISPERSION_HISTORY_DAYS``, not only the baseline: on 28 days it misses a variance half again the model's about
    half the time. sigma_z comes from the same history, the centre line from the baseline. Where the model fits, the
    binomial (Poisson) tails judge: a step's few defectives a day are too skewed for 3-sigma limits.
    """
    try:
        dispersion = overdispersion(past_counts, past_sizes, kind)
        if dispersion.needs_laney:
            laney = laney_p_chart if kind == "p" else laney_u_chart
            return laney(counts, sizes, baseline=mask, sigma_z=dispersion.sigma_z)
    except ValueError:  # too short a history, or no defect in it: no z-scores to test
        pass
    return (probability_p_chart if kind == "p" else probability_u_chart)(counts, sizes, baseline=mask)


def _judge_drift(days: DailySeries, baseline: np.ndarray, i: int, rule: Rule) -> dict[str, object]:
    """An EWMA or CUSUM of the daily values over the baseline and the ``DRIFT_WINDOW_DAYS`` after it up to day ``i``,
    in time order; target and sigma from the baseline (its mean and MR-bar / 1.128).

    The judged value is in the KPI's own unit, so an alert reads like any other: for the EWMA the smoothed value
    against its limit; for the CUSUM the estimated mean of the current run (Montgomery: target + K + C+ / N+, N+ the
    days since C+ left 0) against the mean that would signal over a run that long (target + K + H / N+), which it
    exceeds exactly when C+ exceeds H.
    """
    recent = np.flatnonzero(days.dates[: i + 1] > days.dates[i] - np.timedelta64(DRIFT_WINDOW_DAYS, "D"))
    order = np.union1d(baseline, recent)
    values = days.value[order]
    mask = np.isin(order, baseline)
    up = rule.adverse == "up"
    try:
        if rule.method == "ewma":
            chart = ewma_chart(values, lam=rule.ewma_lambda or 0.2, L=rule.ewma_width or 3.0, baseline=mask)
        else:
            chart = cusum_chart(values, k=rule.cusum_k or 0.5, h=rule.cusum_h or 5.0, baseline=mask)
    except ValueError:  # a baseline without variation has no sigma: nothing to judge a drift against
        nan = float("nan")
        return _row(days, i, float(days.value[i]), nan, nan, nan, "", False, None, nan)
    today = chart.iloc[-1]
    if rule.method == "ewma":
        value, centre, lower, upper = (float(today[c]) for c in ("ewma", "cl", "lcl", "ucl"))
        adverse = value > upper if up else value < lower
        beyond = bool(today["out_of_control"])
        fired, limit = "ewma" if adverse else "", upper if up else lower
        return _row(days, i, value, centre, lower, upper, fired, adverse, beyond, limit)
    sums = chart["c_plus" if up else "c_minus"].to_numpy()
    run = _run_length(sums)
    sigma, target = float(today["sigma"]), float(np.nanmean(values[mask]))
    allowance, interval = (rule.cusum_k or 0.5) * sigma, (rule.cusum_h or 5.0) * sigma
    sign = 1.0 if up else -1.0
    if run:
        value = target + sign * (allowance + float(sums[-1]) / run)
        bound = target + sign * (allowance + interval / run)
    else:
        value, bound = float(values[-1]), target + sign * (allowance + interval)
    adverse = bool(today["signal_upper"] if up else today["signal_lower"])
    lower, upper = (target, bound) if up else (bound, target)
    fired, beyond = "cusum" if adverse else "", bool(today["out_of_control"])
    return _row(days, i, value, target, lower, upper, fired, adverse, beyond, bound, run_days=run)


def _run_length(sums: np.ndarray) -> int:
    """How many of the last points the CUSUM has stayed above 0 (N+ or N-)."""
    zero = np.flatnonzero(~(sums > 0))
    return len(sums) - 1 - int(zero[-1]) if len(zero) else len(sums)


def _row(
    days: DailySeries,
    i: int,
    value: float,
    centre: float,
    lower: float,
    upper: float,
    fired: str,
    adverse: bool,
    beyond: bool | None,
    limit: float,
    opposite_limit: float = float("nan"),
    run_days: int = 0,
) -> dict[str, object]:
    """One judged day (``JUDGED_COLUMNS``); ``beyond`` None: as ``adverse``."""
    return {
        "kpi_date": days.kpi_date[i],
        "value": value,
        "centre": centre,
        "lower": lower,
        "upper": upper,
        "sample_size": float(days.denominator[i]),
        "fired": fired,
        "adverse": adverse,
        "beyond": adverse if beyond is None else beyond,
        "limit": limit,
        "opposite_limit": opposite_limit,
        "run_days": run_days,
    }


def _judge_drop(days: DailySeries, baseline: np.ndarray, i: int, rule: Rule) -> dict[str, object]:
    weights = np.where(days.denominator[baseline] > 0, days.denominator[baseline], 1.0)
    # Pooled, for ratio KPIs: never a plain mean of ratios.
    mean = float(np.average(days.value[baseline], weights=weights))
    value = float(days.value[i])
    allowed = float(rule.points or 0)
    down = rule.adverse == "down"
    limit = mean - allowed if down else mean + allowed
    adverse = value < limit if down else value > limit
    return _row(days, i, value, mean, mean - allowed, mean + allowed, "drop" if adverse else "", adverse, None, limit)


def _judge_target(days: DailySeries, i: int, rule: Rule) -> dict[str, object]:
    value, target = float(days.value[i]), float(rule.target or 0.0)
    adverse = value < target if rule.adverse == "down" else value > target
    # A target has no baseline to keep clean: its days are never "beyond".
    return _row(days, i, value, target, target, target, "target" if adverse else "", adverse, False, target)


def episodes_of(judged: pd.DataFrame, rule: Rule, place: tuple[str, str, str]) -> list[Episode]:
    """Group one place's judged days into episodes: consecutive trouble, apart by ``resolve_after_days`` calm days."""
    episodes: list[Episode] = []
    current: dict[str, object] | None = None
    calm = 0
    for day in judged.itertuples(index=False):
        if day.adverse:
            if current is None:
                current = {"since_date": day.kpi_date, "days_adverse": 0}
            current.update(last=day, days_adverse=int(current["days_adverse"]) + 1)  # type: ignore[call-overload]
            calm = 0
        elif current is not None:
            calm += 1
            if calm >= (rule.resolve_after_days or 1):
                episodes.append(_episode(rule, place, current, resolved_date=day.kpi_date))
                current, calm = None, 0
    if current is not None:
        episodes.append(_episode(rule, place, current, resolved_date=None))
    return episodes


def _episode(rule: Rule, place: tuple[str, str, str], state: dict[str, object], resolved_date: date | None) -> Episode:
    last = state["last"]
    return Episode(
        rule=rule,
        site_id=place[0],
        line_id=place[1],
        step_id=place[2],
        since_date=_as_date(state["since_date"]),
        last_date=_as_date(last.kpi_date),  # type: ignore[attr-defined]
        days_adverse=int(state["days_adverse"]),  # type: ignore[call-overload]
        value=float(last.value),  # type: ignore[attr-defined]
        centre=float(last.centre),  # type: ignore[attr-defined]
        limit=float(last.limit),  # type: ignore[attr-defined]
        sample_size=float(last.sample_size),  # type: ignore[attr-defined]
        fired=str(last.fired),  # type: ignore[attr-defined]
        resolved_date=_as_date(resolved_date) if resolved_date is not None else None,
        opposite_limit=float(last.opposite_limit),  # type: ignore[attr-defined]
        run_days=int(last.run_days),  # type: ignore[attr-defined]
    )


def _as_date(value: object) -> date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def find_episodes(
    kpi_daily: pd.DataFrame, rule: Rule, exclusions: dict[tuple[str, str, str, str], set[date]] | None = None
) -> tuple[list[Episode], pd.DataFrame]:
    """Every episode of ``rule`` in the KPI history (``kpi_daily`` rows of any KPIs and grains), and every judged
    day with its place: the rule's control chart. ``exclusions``: days out of the baselines, per (rule, place)."""
    rows = kpi_daily[(kpi_daily["kpi"] == rule.kpi) & (kpi_daily["grain"] == rule.scope)]
    episodes, points = [], []
    for place, series in rows.groupby(list(PLACE_COLUMNS), sort=True):
        excluded = frozenset((exclusions or {}).get((rule.name, *(str(p) for p in place)), set()))  # type: ignore[arg-type]
        judged = judge_series(series, rule, excluded)
        episodes += episodes_of(judged, rule, tuple(str(p) for p in place))  # type: ignore[arg-type]
        points.append(judged.assign(**dict(zip(PLACE_COLUMNS, place, strict=True))))
    chart = pd.concat(points, ignore_index=True) if points else pd.DataFrame(columns=[*JUDGED_COLUMNS, *PLACE_COLUMNS])
    return episodes, chart.assign(rule_name=rule.name, kpi=rule.kpi, method=rule.method)


def false_alarms(kpi_daily: pd.DataFrame, rules: list[Rule], healthy: dict[str, set[str]]) -> pd.DataFrame:
    """Per rule, on the healthy places only: judged days, adverse days, episodes, and the false-alarm rates.

    ``healthy`` maps a place column (``site_id``, ``line_id``) to the values known to have no regression; a
    series counts when its place matches. Every alert there is a false alarm by construction.
    """
    rows = []
    for rule in rules:
        series = kpi_daily[(kpi_daily["kpi"] == rule.kpi) & (kpi_daily["grain"] == rule.scope)]
        column = "line_id" if rule.scope in ("line", "step") else "site_id"
        series = series[series[column].isin(healthy.get(column, set()))]
        judged_days = adverse_days = episodes = places = 0
        for place, one in series.groupby(list(PLACE_COLUMNS)):
            judged = _judged(kpi_daily, one, rule)
            judged_days += len(judged)
            adverse_days += int(judged["adverse"].sum())
            episodes += len(episodes_of(judged, rule, tuple(str(p) for p in place)))  # type: ignore[arg-type]
            places += 1
        rows.append(
            {
                "rule": rule.name,
                "places": places,
                "judged_days": judged_days,
                "adverse_days": adverse_days,
                "alerts": episodes,
                "adverse_day_rate": adverse_days / judged_days if judged_days else float("nan"),
                "alerts_per_place_per_90_days": 90 * episodes / judged_days if judged_days else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _judged(kpi_daily: pd.DataFrame, one: pd.DataFrame, rule: Rule) -> pd.DataFrame:
    """One place's series judged by its rule; a leading rule reads its outcome KPI at the same line."""
    if rule.method != "leading":
        return judge_series(one, rule)
    from alerts.leading import judge_leading, line_outcome

    return judge_leading(one, line_outcome(kpi_daily, rule, str(one["line_id"].iloc[0])), rule)
