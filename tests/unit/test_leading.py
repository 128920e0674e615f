"""Training as a leading indicator: the lag and strength found in a line's history are the ones it holds, noise
holds none, and a fall is alerted only where the history before it already says the outcome follows."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from alerts.leading import judge_leading
from core.alert_rules import Rule
from transforms.leading import lagged_relation

pytestmark = pytest.mark.unit

START = date(2026, 1, 5)


def _days(n: int) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=n, freq="D")


def _compliance(n: int, lapses: list[tuple[int, int]], rng: np.random.Generator) -> pd.Series:
    """Twelve people, nearly all certified, with a few lapsed during each (start, end) lapse."""
    level = np.full(n, 11.5)
    for start, end in lapses:
        level[start:end] = 7.5
    people = np.clip(np.round(level + rng.normal(0, 0.6, n)), 0, 12)
    return pd.Series(people / 12, index=_days(n))


def _yield(n: int, lapses: list[tuple[int, int]], lag: int, rng: np.random.Generator) -> pd.Series:
    """Daily FPY of 3,000 units whose defect rate rises by half ``lag`` days after each lapse begins, for as long."""
    p = np.full(n, 0.018)
    for start, end in lapses:
        p[start + lag : end + lag] = 0.027
    return pd.Series(1 - rng.binomial(3000, p) / 3000, index=_days(n))


def test_a_known_lag_is_found_with_its_strength_and_beyond_chance():
    rng = np.random.default_rng(1)
    compliance = _compliance(120, [(20, 38), (70, 85)], rng)
    fpy = _yield(120, [(20, 38), (70, 85)], 12, rng)

    relation = lagged_relation(compliance, fpy, max_lag_days=28, direction=1)

    assert relation is not None
    assert abs(relation.lag_days - 12) <= 1
    assert relation.correlation > 0.6 and relation.p_value < 0.01
    assert relation.n == 120 - relation.lag_days  # each outcome day paired with the leading value lag days before
    assert relation.n_effective < relation.n  # autocorrelation discounted
    # The fraction defective follows the same way, with the opposite sign.
    defective = lagged_relation(compliance, 1 - fpy, max_lag_days=28, direction=-1)
    assert defective is not None and defective.lag_days == relation.lag_days
    assert defective.correlation == pytest.approx(-relation.correlation)


def test_days_without_production_are_gaps_not_zeros():
    rng = np.random.default_rng(2)
    compliance = _compliance(120, [(20, 38), (70, 85)], rng)
    fpy = _yield(120, [(20, 38), (70, 85)], 9, rng)
    working = fpy[fpy.index.dayofweek != 6]  # no production on Sundays

    relation = lagged_relation(compliance, working, direction=1)

    assert relation is not None and abs(relation.lag_days - 9) <= 1 and relation.n < 120 - 9


def test_noise_holds_no_relation_even_when_both_series_wander():
    """Independent series, white and autocorrelated (random walks, the case a naive test of r gets badly wrong):
    the corrected test calls hardly any of them related."""
    rng = np.random.default_rng(3)
    significant_naive = significant = 0
    trials = 40
    for _ in range(trials):
        leading = pd.Series(np.cumsum(rng.normal(0, 1, 90)), index=_days(90))
        outcome = pd.Series(np.cumsum(rng.normal(0, 1, 90)), index=_days(90))
        relation = lagged_relation(leading, outcome, direction=1)
        if relation is None:
            continue
        significant += relation.established(0.5, 0.05)
        naive_t = relation.correlation * np.sqrt((relation.n - 2) / (1 - relation.correlation**2))
        significant_naive += bool(naive_t > 1.7)  # one-sided 5% with the raw n
    assert significant <= 2  # at most a chance few of 40
    assert significant_naive >= trials // 4  # what the naive test would have claimed
    white = lagged_relation(
        pd.Series(rng.normal(0, 1, 90), index=_days(90)), pd.Series(rng.normal(0, 1, 90), index=_days(90))
    )
    assert white is None or not white.established(0.5, 0.05)


def test_too_short_a_history_holds_no_relation():
    rng = np.random.default_rng(4)
    compliance = _compliance(25, [(5, 12)], rng)
    fpy = _yield(25, [(5, 12)], 10, rng)

    assert lagged_relation(compliance, fpy, min_pairs=20) is None  # 25 days, fewer than 20 pairs beyond lag 5
    assert lagged_relation(compliance.iloc[:0], fpy) is None
    with pytest.raises(ValueError, match="direction"):
        lagged_relation(compliance, fpy, direction=0)


def _rule(**changes: object) -> Rule:
    fields: dict[str, object] = {
        "name": "line_training_leads_yield",
        "kpi": "training_compliance",
        "leads": "fpy",
        "scope": "line",
        "method": "leading",
        "adverse": "down",
        "points": 0.15,
        "severity": "info",
        "baseline_days": 28,
        "min_baseline_days": 14,
        "resolve_after_days": 3,
    }
    return Rule.model_validate({**fields, **changes})


def _frame(series: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"kpi_date": series.index.date, "numerator": series.to_numpy() * 12, "denominator": 12.0, "value": series}
    ).reset_index(drop=True)


def test_a_fall_is_alerted_only_once_the_history_before_it_says_yield_follows():
    rng = np.random.default_rng(5)
    # A first lapse (days 30-45) that yield followed 10 days later, then a second from day 100.
    compliance = _compliance(130, [(30, 45), (100, 130)], rng)
    fpy = _yield(130, [(30, 45), (100, 130)], 10, rng)

    judged = judge_leading(_frame(compliance), fpy, _rule())
    judged["day"] = (pd.to_datetime(judged["kpi_date"]) - pd.Timestamp(START)).dt.days
    adverse = judged[judged["adverse"]]

    # The first lapse has no history behind it: nothing is alerted before the yield has followed it (from day 40).
    # The second is, from its first day, saying why.
    assert not adverse["day"].between(0, 39).any()
    second = adverse[adverse["day"] >= 100]["day"]
    assert second.min() == 100 and second.max() == 129 and len(second) == 30
    assert set(adverse["fired"]) == {"leading"}
    relation = adverse["relation"].iloc[0]
    assert relation["outcome_kpi"] == "fpy" and 0 <= relation["lag_days"] <= 28 and relation["p_value"] <= 0.05
    # The same series with a yield unrelated to training raises nothing.
    unrelated = pd.Series(1 - rng.binomial(3000, 0.018, 130) / 3000, index=compliance.index)
    assert not judge_leading(_frame(compliance), unrelated, _rule())["adverse"].any()


def test_no_look_ahead_the_alert_on_a_day_does_not_change_with_later_data():
    rng = np.random.default_rng(6)
    compliance = _compliance(130, [(30, 45), (100, 130)], rng)
    fpy = _yield(130, [(30, 45), (100, 130)], 10, rng)
    cut = pd.Timestamp(START + timedelta(days=105))

    full = judge_leading(_frame(compliance), fpy, _rule())
    partial = judge_leading(_frame(compliance[compliance.index <= cut]), fpy[fpy.index <= cut], _rule())
    upto = full[pd.to_datetime(full["kpi_date"]) <= cut].reset_index(drop=True)

    pd.testing.assert_frame_equal(upto, partial)
