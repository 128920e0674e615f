"""Regression rules over the daily KPI tables; each alert says what, where, since when and why.

Now: a p-chart on each line's daily fraction defective with Western Electric rule 1, judged against a
trailing baseline of in-control days (``KPIS.md``: default 28 days before the day judged).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

import pandas as pd

from transforms.spc import p_chart_limits, rule_1_beyond_limits

RULE_1 = "WE1: one point beyond 3 sigma"


@dataclass(frozen=True)
class Alert:
    kpi: str
    rule: str
    site_id: str
    line_id: str
    step_id: str
    alert_date: date
    since_date: date
    value: float
    centre_line: float
    lower_limit: float
    upper_limit: float
    sample_size: float
    top_defect_codes: list[dict[str, object]]

    @property
    def alert_id(self) -> str:
        identity = f"{self.kpi}|{self.rule}|{self.site_id}|{self.line_id}|{self.step_id}|{self.alert_date}"
        return hashlib.sha256(identity.encode()).hexdigest()[:32]

    @property
    def message(self) -> str:
        codes = ", ".join(f"{c['defect_code']} {c['share']:.0%}" for c in self.top_defect_codes) or "none booked"
        return (
            f"{self.kpi.replace('_', ' ').capitalize()} on line {self.line_id} (site {self.site_id}) was "
            f"{self.value:.2%} on {self.alert_date}, above the p-chart upper limit {self.upper_limit:.2%} "
            f"(centre {self.centre_line:.2%}, n={self.sample_size:.0f}; {self.rule}); out of control since "
            f"{self.since_date}. Top defect codes: {codes}."
        )

    def as_row(self) -> dict[str, object]:
        row = {k: v for k, v in self.__dict__.items() if k != "top_defect_codes"}
        return {
            **row,
            "alert_id": self.alert_id,
            "message": self.message,
            "top_defect_codes": json.dumps(self.top_defect_codes),
        }


def p_chart_signals(daily: pd.DataFrame, baseline_days: int, min_baseline_days: int) -> pd.DataFrame:
    """Judge each day of one series (``kpi_date``, ``numerator`` defective, ``denominator`` inspected).

    The baseline of a day is the trailing ``baseline_days`` calendar days before it, less the days already
    judged out of control, so a lasting regression does not become its own baseline. When fewer than
    ``min_baseline_days`` in-control days remain in the window, the most recent ``min_baseline_days`` in-control
    days are the baseline; a series with fewer in-control days than that is not judged. Returns the judged days
    with their limits, ``adverse`` (above the UCL: a regression) and ``since_date`` (start of the adverse streak).
    """
    series = daily.sort_values("kpi_date").reset_index(drop=True)
    series = series[series["denominator"] > 0]
    dates = pd.to_datetime(series["kpi_date"])
    out_of_control: set[int] = set()
    judged = []
    for i, day in enumerate(dates):
        earlier = [j for j in series.index[(dates < day).to_numpy()] if j not in out_of_control]
        window_start = day - pd.Timedelta(days=baseline_days)
        in_control = [j for j in earlier if dates[j] >= window_start]
        if len(in_control) < min_baseline_days:
            # A lasting regression empties the window: keep judging against the last in-control days.
            in_control = earlier[-min_baseline_days:]
        if len(in_control) < min_baseline_days:
            continue
        base = series.loc[in_control]
        row = series.iloc[i]
        centre, lcl, ucl = p_chart_limits(base["numerator"].sum(), base["denominator"].sum(), row["denominator"])
        value = row["numerator"] / row["denominator"]
        beyond = bool(rule_1_beyond_limits(value, lcl, ucl))
        if beyond:
            out_of_control.add(series.index[i])
        judged.append(
            {
                "kpi_date": row["kpi_date"],
                "value": value,
                "n": row["denominator"],
                "centre": centre,
                "lcl": float(lcl),
                "ucl": float(ucl),
                "beyond": beyond,
                "adverse": beyond and value > ucl,
            }
        )
    result = pd.DataFrame(judged, columns=["kpi_date", "value", "n", "centre", "lcl", "ucl", "beyond", "adverse"])
    streak_start = None
    since = []
    for adverse, day in zip(result["adverse"], result["kpi_date"], strict=True):
        streak_start = (streak_start or day) if adverse else None
        since.append(streak_start)
    result["since_date"] = since
    return result


def fraction_defective_alerts(
    line_daily: pd.DataFrame,
    defects_by_line_day: pd.DataFrame,
    baseline_days: int,
    min_baseline_days: int,
) -> list[Alert]:
    """Rule-1 alerts per line; ``line_daily`` holds the line-grain fraction_defective KPI rows."""
    alerts = []
    for (site_id, line_id), series in line_daily.groupby(["site_id", "line_id"]):
        signals = p_chart_signals(series, baseline_days, min_baseline_days)
        for s in signals[signals["adverse"]].itertuples(index=False):
            alerts.append(
                Alert(
                    kpi="fraction_defective",
                    rule=RULE_1,
                    site_id=str(site_id),
                    line_id=str(line_id),
                    step_id="ALL",
                    alert_date=s.kpi_date,
                    since_date=s.since_date,
                    value=float(s.value),
                    centre_line=float(s.centre),
                    lower_limit=s.lcl,
                    upper_limit=s.ucl,
                    sample_size=float(s.n),
                    top_defect_codes=top_defect_codes(defects_by_line_day, str(line_id), s.kpi_date),
                )
            )
    return alerts


def top_defect_codes(defects: pd.DataFrame, line_id: str, day: date, top: int = 3) -> list[dict[str, object]]:
    """The Pareto head of a line's defects on a day: code, count and share of that day's defects."""
    today = defects[(defects["line_id"] == line_id) & (defects["production_date"] == day)]
    counts = today.groupby("defect_code")["defect_count"].sum().sort_values(ascending=False)
    total = counts.sum()
    return (
        [
            {"defect_code": str(code), "count": int(n), "share": round(float(n / total), 4)}
            for code, n in counts.head(top).items()
        ]
        if total
        else []
    )
