"""Find the regressions the configured rules describe, with what drives each one.

For production KPIs the drivers are the Pareto head of that day's defect codes at the place; for feedback KPIs
(NPS, CSAT) the customer segments whose score moved most against the baseline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Connection, select

from alerts.evaluate import Episode, find_episodes
from alerts.leading import find_leading_episodes
from core.alert_rules import AlertConfig, Rule
from core.kpi_registry import REGISTRY
from transforms.kpi_tables import SEGMENT_SCORES
from warehouse.schema import FACT_TABLES


def find_regressions(
    connection: Connection,
    kpi_daily: pd.DataFrame,
    config: AlertConfig,
    exclusions: dict[tuple[str, str, str, str], set[date]] | None = None,
) -> tuple[list[Episode], pd.DataFrame]:
    """Every episode of every rule in the KPI history, each with its contributors; and every judged day.
    ``exclusions``: days people took out of a rule's baselines at a place."""
    judged = [
        (find_leading_episodes if rule.method == "leading" else find_episodes)(kpi_daily, rule, exclusions)
        for rule in config.rules
    ]
    episodes = [e for found, _ in judged for e in found]
    points = pd.concat([chart for _, chart in judged], ignore_index=True)
    if not episodes:
        return [], points
    # What an alert names as its drivers, per KPI (the registry says): the day's defect codes, or customer segments.
    by_defects = {k.code for k in REGISTRY if k.contributors == "defect_codes"}
    by_segments = {k.code for k in REGISTRY if k.contributors == "segments"}
    defects = _defects(connection) if any(e.rule.kpi in by_defects for e in episodes) else None
    feedback = _feedback(connection) if any(e.rule.kpi in by_segments for e in episodes) else None
    out = []
    for episode in episodes:
        if defects is not None and episode.rule.kpi in by_defects:
            episode = replace(episode, contributors=top_defect_codes(defects, episode, episode.last_date))
        elif feedback is not None and episode.rule.kpi in by_segments:
            episode = replace(episode, contributors=segments_that_moved(feedback, episode))
        out.append(episode)
    return out, points


def _defects(connection: Connection) -> pd.DataFrame:
    runs, defects = FACT_TABLES["production_runs"], FACT_TABLES["defects"]
    frame = pd.read_sql(
        select(
            runs.c.site_id,
            runs.c.line_id,
            runs.c.step_id,
            runs.c.production_date,
            defects.c.defect_code,
            defects.c.defect_count,
        ).join(runs, runs.c.run_id == defects.c.run_id),
        connection,
    )
    frame["production_date"] = pd.to_datetime(frame["production_date"]).dt.date
    return frame


def _feedback(connection: Connection) -> pd.DataFrame:
    feedback, customers = FACT_TABLES["feedback"], FACT_TABLES["customer_accounts"]
    frame = pd.read_sql(
        select(
            feedback.c.site_id,
            feedback.c.responded_at,
            feedback.c.nps_score,
            feedback.c.csat_score,
            customers.c.segment,
        ).join(customers, customers.c.customer_id == feedback.c.customer_id, isouter=True),
        connection,
    )
    frame["day"] = pd.to_datetime(frame["responded_at"]).dt.date
    frame["segment"] = frame["segment"].fillna("unknown")
    return frame


def _at_place(frame: pd.DataFrame, episode: Episode) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in (("site_id", episode.site_id), ("line_id", episode.line_id), ("step_id", episode.step_id)):
        if value != "ALL" and column in frame:
            mask &= frame[column] == value
    return frame[mask]


def top_defect_codes(defects: pd.DataFrame, episode: Episode, day: date, top: int = 3) -> list[dict[str, object]]:
    """The Pareto head of the place's defects on ``day``: code, count and share of that day's defects."""
    today = _at_place(defects, episode)
    today = today[today["production_date"] == day]
    counts = today.groupby("defect_code")["defect_count"].sum().sort_values(ascending=False, kind="stable")
    total = counts.sum()
    if not total:
        return []
    return [
        {"defect_code": str(code), "count": int(n), "share": round(float(n / total), 4)}
        for code, n in counts.head(top).items()
    ]


def _score(responses: pd.DataFrame, kpi: str) -> float:
    column, score = SEGMENT_SCORES[kpi]
    return score(responses[column])


def segments_that_moved(feedback: pd.DataFrame, episode: Episode, top: int = 3) -> list[dict[str, object]]:
    """The segments whose score over the alert's window fell (or rose) most against the baseline before it."""
    rule: Rule = episode.rule
    here = _at_place(feedback, episode)
    window_start = episode.last_date - timedelta(days=max(rule.window_days, 1) - 1)
    baseline_start = episode.since_date - timedelta(days=rule.baseline_days or 28)
    recent = here[(here["day"] >= window_start) & (here["day"] <= episode.last_date)]
    baseline = here[(here["day"] >= baseline_start) & (here["day"] < episode.since_date)]
    moves: list[dict[str, object]] = []
    for segment, group in recent.groupby("segment"):
        before = baseline[baseline["segment"] == segment]
        change = _score(group, rule.kpi) - _score(before, rule.kpi)
        if pd.notna(change):
            moves.append({"segment": str(segment), "change": round(change, 2), "responses": len(group)})
    adverse_first = sorted(moves, key=lambda m: float(m["change"]), reverse=rule.adverse == "up")  # type: ignore[arg-type]
    return adverse_first[:top]
