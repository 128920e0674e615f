"""Before and after an improvement (KPIS.md, "Before/after of an improvement"), pure.

For a named change (a date and a scope) and one KPI: the KPI in a window before the change and one after it, each
stage with its own centre line and control limits (Minitab's staged chart), the difference after minus before with
its test and 95% interval, how many after-stage days fall beyond the before stage's limits, and a verdict in the
KPI's own direction. The test follows the KPI's chart: a p-chart KPI compares pooled proportions, a u-chart KPI
pooled rates, an individuals-chart KPI the daily values' means (Welch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.kpi_registry import Kpi
from transforms import spc
from transforms.kpi_tables import kpi_value

# A stage needs this many days with a value before its limits and test mean anything.
MIN_STAGE_DAYS = 5
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Windows:
    """The days before a change and the days from it on (the change day belongs to the after stage)."""

    before_start: date
    before_end: date
    after_start: date
    after_end: date

    @classmethod
    def around(cls, change: date, window_days: int, last_day: date) -> Windows:
        """``window_days`` before the change, and as many from it on as have happened by ``last_day``."""
        after_end = min(change + timedelta(days=window_days - 1), last_day)
        return cls(change - timedelta(days=window_days), change - timedelta(days=1), change, after_end)

    def stage_of(self, days: pd.Series) -> pd.Series:
        """``before``, ``after`` or "" (neither) for each day."""
        stamps = pd.to_datetime(days)
        before = (stamps >= pd.Timestamp(self.before_start)) & (stamps <= pd.Timestamp(self.before_end))
        after = (stamps >= pd.Timestamp(self.after_start)) & (stamps <= pd.Timestamp(self.after_end))
        return pd.Series(np.where(before, "before", np.where(after, "after", "")), index=days.index)


@dataclass(frozen=True)
class StageComparison:
    """One KPI before and after one change (values in the KPI's own units)."""

    before_days: int
    after_days: int
    before_value: float
    after_value: float
    difference: float
    test: str
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    before_cl: float
    before_lcl: float
    before_ucl: float
    after_cl: float
    after_lcl: float
    after_ucl: float
    after_beyond_favourable: int  # after-stage days beyond the before stage's limits, on the better side
    after_beyond_adverse: int
    verdict: str  # improved, worsened, no clear change, too early

    def as_row(self) -> dict[str, Any]:
        return dict(self.__dict__)


_TESTS = {"p_chart": "two-proportion z-test", "u_chart": "two-rate z-test", "imr": "Welch t-test"}


def compare_stages(daily: pd.DataFrame, kpi: Kpi, windows: Windows) -> StageComparison | None:
    """The KPI's two stages around a change, from its daily rows at the change's scope (``kpi_date``, ``numerator``,
    ``denominator``, ``value``); None when the KPI has no day in either window."""
    stage = windows.stage_of(daily["kpi_date"])
    rows = daily.assign(stage=stage)[stage.ne("") & daily["value"].notna()].sort_values("kpi_date")
    before, after = rows[rows["stage"] == "before"], rows[rows["stage"] == "after"]
    if before.empty and after.empty:
        return None
    chart = kpi.chart if kpi.chart in _TESTS else "imr"
    before_value, after_value = _stage_value(before, kpi, chart), _stage_value(after, kpi, chart)
    nan = float("nan")
    if len(before) < MIN_STAGE_DAYS or len(after) < MIN_STAGE_DAYS:
        return StageComparison(
            len(before), len(after), before_value, after_value, after_value - before_value, _TESTS[chart],
            nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, 0, "too early",
        )  # fmt: skip
    test = _test(before, after, chart, kpi)
    scale = _scaled(kpi, chart)
    before_limits = _limits(rows, rows["stage"].eq("before").to_numpy(), chart, scale)
    after_limits = _limits(rows, rows["stage"].eq("after").to_numpy(), chart, scale)
    # Each after day against the before stage's limits at that day's own sample size.
    judged = before_limits["chart"][rows["stage"].eq("after").to_numpy()]
    above, below = judged["value"] > judged["ucl"], judged["value"] < judged["lcl"]
    # A p-chart KPI may be charted as its complement (FPY is judged by 1 - FPY): the sides follow the value itself.
    favourable, adverse = (above, below) if kpi.higher_is_better else (below, above)
    difference = after_value - before_value
    significant = test["p_value"] < SIGNIFICANCE
    better = difference > 0 if kpi.higher_is_better else difference < 0
    verdict = ("improved" if better else "worsened") if significant else "no clear change"
    return StageComparison(
        before_days=len(before),
        after_days=len(after),
        before_value=before_value,
        after_value=after_value,
        difference=difference,
        test=_TESTS[chart],
        statistic=test["statistic"],
        p_value=test["p_value"],
        ci_low=test["ci_low"],
        ci_high=test["ci_high"],
        before_cl=before_limits["cl"],
        before_lcl=before_limits["lcl"],
        before_ucl=before_limits["ucl"],
        after_cl=after_limits["cl"],
        after_lcl=after_limits["lcl"],
        after_ucl=after_limits["ucl"],
        after_beyond_favourable=int(favourable.sum()),
        after_beyond_adverse=int(adverse.sum()),
        verdict=verdict,
    )


def _stage_value(stage: pd.DataFrame, kpi: Kpi, chart: str) -> float:
    """The stage's KPI: pooled (sum of numerators over sum of denominators) where its chart pools, else the mean of
    the daily values."""
    if stage.empty:
        return float("nan")
    if chart == "imr":
        return float(stage["value"].mean())
    pooled = kpi_value(kpi.code, pd.Series([stage["numerator"].sum()]), pd.Series([stage["denominator"].sum()]))
    return float(pooled.iloc[0])


def _scaled(kpi: Kpi, chart: str) -> float:
    """From the test's ratio units to the KPI's (a proportion x 1e6 for DPMO; daily values are in KPI units)."""
    return 1.0 if chart == "imr" else kpi.scale


def _test(before: pd.DataFrame, after: pd.DataFrame, chart: str, kpi: Kpi) -> dict[str, float]:
    """The stages' difference tested as the chart judges the KPI; NaN where the test is undefined (two constant
    stages, a count above its sample)."""
    try:
        return _tested(before, after, chart, kpi)
    except ValueError:
        nan = float("nan")
        return {"statistic": nan, "p_value": nan, "ci_low": nan, "ci_high": nan}


def _tested(before: pd.DataFrame, after: pd.DataFrame, chart: str, kpi: Kpi) -> dict[str, float]:
    result: spc.ZTest | spc.WelchTest
    if chart in ("p_chart", "u_chart"):
        compare = spc.compare_proportions if chart == "p_chart" else spc.compare_rates
        result = compare(
            before["numerator"].sum(), before["denominator"].sum(), after["numerator"].sum(), after["denominator"].sum()
        )
        statistic = result.z
    else:
        result = spc.compare_means(before["value"].to_numpy(dtype="float64"), after["value"].to_numpy(dtype="float64"))
        statistic = result.t
    scale = _scaled(kpi, chart)
    return {
        "statistic": float(statistic),
        "p_value": float(result.p_value),
        "ci_low": float(result.ci_low) * scale,
        "ci_high": float(result.ci_high) * scale,
    }


def _limits(rows: pd.DataFrame, stage: np.ndarray, chart: str, scale: float) -> dict[str, Any]:
    """The stage's own centre line and limits in the KPI's units (for a p- or u-chart at the stage's mean daily
    sample size), and the chart of every row judged by them (in the chart's units)."""
    if chart == "p_chart":
        judged = spc.p_chart(rows["numerator"], rows["denominator"], baseline=stage)
    elif chart == "u_chart":
        judged = spc.u_chart(rows["numerator"], rows["denominator"], baseline=stage)
    else:
        judged, _ = spc.imr_chart(rows["value"], baseline=stage)
    judged = judged.reset_index(drop=True)
    if chart == "imr":
        summary = judged.iloc[0]
        cl, lcl, ucl = summary["cl"], summary["lcl"], summary["ucl"]
    elif chart == "p_chart":
        counted = rows[stage]
        cl, lcl, ucl = spc.p_chart_limits(
            counted["numerator"].sum(), counted["denominator"].sum(), counted["denominator"].mean()
        )
    else:
        cl = float(judged["cl"].iloc[0])
        sigma = np.sqrt(cl / float(rows["denominator"][stage].mean()))
        lcl, ucl = max(cl - 3 * sigma, 0.0), cl + 3 * sigma
    return {"cl": float(cl) * scale, "lcl": float(lcl) * scale, "ucl": float(ucl) * scale, "chart": judged}
