"""Training as a leading indicator: alert a fall of a line's training where its own history says yield follows.

A ``method: leading`` rule judges the leading KPI (training compliance) of each line day by day like a ``drop`` rule
(a fall of more than ``points`` against its trailing baseline), and raises the fall only when the line's history
*before that day* already relates the outcome KPI (``leads``: FPY, fraction defective) to it: the strongest lagged
relation within ``max_lag_days`` (``transforms.leading``) at least ``min_correlation`` strong and beyond chance at
``max_p_value``. No look-ahead: the relation a day is judged by comes from the days before it. Each alert says what
that history says, in words, and goes through the same lifecycle as every other alert.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from alerts.evaluate import (
    JUDGED_COLUMNS,
    PLACE_COLUMNS,
    DailySeries,
    Episode,
    _baseline,
    _judge_drop,
    episodes_of,
)
from core.alert_rules import Rule
from core.kpi_registry import REGISTRY
from transforms.leading import LaggedRelation, lagged_relation

RELATION_COLUMNS = [
    "site_id",
    "line_id",
    "kpi",
    "outcome_kpi",
    "lag_days",
    "correlation",
    "p_value",
    "pair_count",
    "effective_pairs",
    "is_established",
    "as_of",
]


def direction_of(rule: Rule) -> int:
    """+1 when the outcome should fall with the leading KPI (both better higher, as compliance and FPY), else -1."""
    assert rule.leads is not None
    same = REGISTRY[rule.kpi].higher_is_better == REGISTRY[rule.leads].higher_is_better
    return 1 if same else -1


def _series(kpi_daily: pd.DataFrame, kpi: str) -> pd.DataFrame:
    return kpi_daily[(kpi_daily["kpi"] == kpi) & (kpi_daily["grain"] == "line") & (kpi_daily["step_id"] == "ALL")]


def line_outcome(kpi_daily: pd.DataFrame, rule: Rule, line_id: str) -> pd.Series:
    """The outcome KPI's daily values at one line, by day."""
    assert rule.leads is not None
    outcomes = _series(kpi_daily, rule.leads)
    return _outcome(outcomes[outcomes["line_id"] == line_id])


def _outcome(series: pd.DataFrame) -> pd.Series:
    days = series.dropna(subset=["value"])
    return pd.Series(days["value"].to_numpy(dtype="float64"), index=pd.to_datetime(days["kpi_date"]))


def _relation(
    leading: pd.Series, outcome: pd.Series, rule: Rule, before: object | None = None
) -> LaggedRelation | None:
    if before is not None:
        leading, outcome = leading[leading.index < before], outcome[outcome.index < before]
    return lagged_relation(leading, outcome, rule.max_lag_days, direction_of(rule))


def judge_leading(
    leading: pd.DataFrame, outcome: pd.Series, rule: Rule, excluded_days: frozenset[date] = frozenset()
) -> pd.DataFrame:
    """Judge one line's leading series (``kpi_date``, ``numerator``, ``denominator``, ``value``) day by day.

    A fall is alerted when the leading KPI is more than ``points`` below its trailing baseline and the line's history
    before its first day establishes the relation; it stays adverse, on that relation, while the leading KPI stays
    down (the outcome then falling too does not end it). A fall without that history is kept out of later
    baselines but not alerted. Returns the judged days (``evaluate.JUDGED_COLUMNS``).
    """
    days = leading.dropna(subset=["value"]).sort_values("kpi_date").reset_index(drop=True)
    series = DailySeries.of(days)
    dates = series.dates
    excluded = np.array(pd.to_datetime(days["kpi_date"]).dt.date.isin(excluded_days), dtype=bool)
    history = pd.Series(series.value, index=pd.DatetimeIndex(dates))
    judged = []
    opened_by: LaggedRelation | None = None  # the relation an open fall was raised on: it holds while the fall lasts
    calm = 0
    for i in range(len(days)):
        baseline = _baseline(dates, excluded, i, rule)
        if baseline is None:
            continue
        row = _judge_drop(series, baseline, i, rule)
        if row["adverse"]:
            calm = 0
            if opened_by is None:  # a new fall: does the line's history before this day say the outcome follows?
                relation = _relation(history, outcome, rule, before=dates[i])
                if relation is not None and relation.established(rule.min_correlation, rule.max_p_value):
                    opened_by = relation
            if opened_by is not None:
                row["fired"] = "leading"
                row["relation"] = history_of(rule, opened_by)
            else:
                row.update(fired="", adverse=False)
        else:
            calm += 1
            if calm >= (rule.resolve_after_days or 1):
                opened_by = None
        excluded[i] = excluded[i] or bool(row["beyond"])
        judged.append(row)
    return pd.DataFrame(judged, columns=[*JUDGED_COLUMNS, "relation"])


def history_of(rule: Rule, relation: LaggedRelation) -> dict[str, object]:
    """The relation an alert was raised on, as its contributors (``core.kpi_format.contributors_text`` words it)."""
    return {
        "outcome_kpi": rule.leads,
        "lag_days": relation.lag_days,
        "correlation": round(relation.correlation, 4),
        "p_value": round(relation.p_value, 6),
        "pairs": relation.n,
        "effective_pairs": round(relation.n_effective, 1),
    }


def find_leading_episodes(
    kpi_daily: pd.DataFrame, rule: Rule, exclusions: dict[tuple[str, str, str, str], set[date]] | None = None
) -> tuple[list[Episode], pd.DataFrame]:
    """Every episode of a ``leading`` rule, per line, and every judged day with its place (as ``find_episodes``)."""
    assert rule.leads is not None
    outcomes = _series(kpi_daily, rule.leads)
    episodes, points = [], []
    for place, series in _series(kpi_daily, rule.kpi).groupby(list(PLACE_COLUMNS), sort=True):
        key = tuple(str(p) for p in place)
        excluded = frozenset((exclusions or {}).get((rule.name, *key), set()))  # type: ignore[arg-type]
        outcome = _outcome(outcomes[outcomes["line_id"] == key[1]])
        judged = judge_leading(series, outcome, rule, excluded)
        relations = dict(zip(pd.to_datetime(judged["kpi_date"]).dt.date, judged["relation"], strict=True))
        for episode in episodes_of(judged[JUDGED_COLUMNS], rule, key):  # type: ignore[arg-type]
            episodes.append(replace(episode, contributors=[relations[episode.last_date]]))
        points.append(judged[JUDGED_COLUMNS].assign(**dict(zip(PLACE_COLUMNS, place, strict=True))))
    chart = pd.concat(points, ignore_index=True) if points else pd.DataFrame(columns=[*JUDGED_COLUMNS, *PLACE_COLUMNS])
    return episodes, chart.assign(rule_name=rule.name, kpi=rule.kpi, method=rule.method)


def line_relations(kpi_daily: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """Per ``leading`` rule and line, the relation over the line's whole history, as of its last outcome day: what
    an analyst reads in ``training_lead``. A line without a relation in the expected direction has its lag NULL."""
    rows = []
    for rule in rules:
        if rule.method != "leading" or rule.leads is None:
            continue
        outcomes = _series(kpi_daily, rule.leads)
        for (site_id, line_id), series in _series(kpi_daily, rule.kpi).groupby(["site_id", "line_id"], sort=True):
            outcome = _outcome(outcomes[outcomes["line_id"] == line_id])
            if outcome.empty:
                continue
            history = _outcome(series)
            relation = _relation(history, outcome, rule)
            rows.append(
                {
                    "site_id": str(site_id),
                    "line_id": str(line_id),
                    "kpi": rule.kpi,
                    "outcome_kpi": rule.leads,
                    "lag_days": relation.lag_days if relation else None,
                    "correlation": relation.correlation if relation else None,
                    "p_value": relation.p_value if relation else None,
                    "pair_count": relation.n if relation else None,
                    "effective_pairs": relation.n_effective if relation else None,
                    "is_established": bool(relation and relation.established(rule.min_correlation, rule.max_p_value)),
                    "as_of": min(history.index.max(), outcome.index.max()).date(),
                }
            )
    return pd.DataFrame(rows, columns=RELATION_COLUMNS)
