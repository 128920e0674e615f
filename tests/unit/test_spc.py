"""The regression rules over daily KPI series (alerts/evaluate.py), following KPIS.md's baseline conventions."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from alerts.evaluate import episodes_of, judge_series
from alerts.regressions import top_defect_codes
from core.alert_rules import Rule

pytestmark = pytest.mark.unit

P_CHART = Rule(
    name="line_fd", kpi="fraction_defective", scope="line", method="p_chart", adverse="up", severity="critical",
    rules=["rule_1"], baseline_days=28, min_baseline_days=14, resolve_after_days=3,
)  # fmt: skip


def _series(defective: list[int], inspected: int = 1000) -> pd.DataFrame:
    start = date(2026, 1, 1)
    return pd.DataFrame(
        {
            "kpi_date": [start + timedelta(days=i) for i in range(len(defective))],
            "numerator": defective,
            "denominator": [inspected] * len(defective),
            "value": [d / inspected for d in defective],
        }
    )


def test_a_jump_is_flagged_from_its_first_day_and_keeps_being_flagged():
    history = [20, 18, 22, 21, 19] * 6  # 30 in-control days around p = 0.02
    regression = [60] * 25  # p = 0.06 from day 31 on, for longer than the 28-day window
    judged = judge_series(_series(history + regression), P_CHART)
    adverse = judged[judged["adverse"]]
    assert len(adverse) == 25 and adverse["kpi_date"].min() == date(2026, 1, 31)
    assert adverse["centre"].max() < 0.025  # the regression never becomes its own baseline
    [episode] = episodes_of(judged, P_CHART, ("S1", "L1", "ALL"))
    assert (episode.since_date, episode.days_adverse, episode.resolved_date) == (date(2026, 1, 31), 25, None)


def test_an_improvement_beyond_the_lcl_is_out_of_control_but_not_a_regression():
    judged = judge_series(_series([20, 18, 22, 21, 19] * 6 + [0]), P_CHART)
    last = judged.iloc[-1]
    assert bool(last["beyond"]) and not bool(last["adverse"])


def test_days_without_enough_baseline_are_not_judged():
    judged = judge_series(_series([20] * 20), P_CHART)
    assert judged["kpi_date"].min() == date(2026, 1, 15)  # the 15th day has 14 days of history


def test_one_episode_per_regression_resolved_after_the_configured_calm_days():
    calm = [20, 18, 22, 21, 19] * 6
    judged = judge_series(_series(calm + [60, 20, 60, 20, 20, 20, 60]), P_CHART)
    episodes = episodes_of(judged, P_CHART, ("S1", "L1", "ALL"))
    # Days 31 and 33 are one episode (one calm day between); three calm days resolve it; day 37 is a new one.
    assert [(e.since_date, e.last_date, e.days_adverse, e.resolved_date) for e in episodes] == [
        (date(2026, 1, 31), date(2026, 2, 2), 2, date(2026, 2, 5)),
        (date(2026, 2, 6), date(2026, 2, 6), 1, None),
    ]
    assert episodes[0].fingerprint == episodes[1].fingerprint and episodes[0].alert_id != episodes[1].alert_id


def test_target_and_drop_rules():
    target = Rule(name="t", kpi="oee", scope="line", method="target", adverse="down", target=0.5, severity="warning")
    judged = judge_series(_series([600, 400, 500]), target)
    assert judged["adverse"].tolist() == [False, True, False]  # on the target is not below it
    drop = Rule(
        name="d", kpi="nps", scope="site", method="drop", adverse="down", points=20, severity="critical",
        baseline_days=28, min_baseline_days=3, window_days=1,
    )  # fmt: skip
    series = pd.DataFrame(
        {
            "kpi_date": [date(2026, 1, d) for d in range(1, 7)],
            "numerator": [40, 40, 40, 19, 10, 40],
            "denominator": [100, 100, 100, 100, 100, 100],
            "value": [40.0, 40.0, 40.0, 19.0, 10.0, 40.0],
        }
    )
    assert judge_series(series, drop)["adverse"].tolist() == [True, True, False]  # 21 below, 30 below, back


def test_top_defect_codes_are_the_pareto_head_of_that_place_and_day():
    defects = pd.DataFrame(
        {
            "site_id": ["S1"] * 4,
            "line_id": ["L1", "L1", "L1", "L2"],
            "step_id": ["A"] * 4,
            "production_date": [date(2026, 1, 1)] * 4,
            "defect_code": ["A", "B", "A", "C"],
            "defect_count": [3, 4, 3, 50],
        }
    )
    [episode] = episodes_of(judge_series(_series([20] * 14 + [90]), P_CHART), P_CHART, ("S1", "L1", "ALL"))
    assert top_defect_codes(defects, episode, date(2026, 1, 1)) == [
        {"defect_code": "A", "count": 6, "share": 0.6},
        {"defect_code": "B", "count": 4, "share": 0.4},
    ]


LANEY_P = P_CHART.model_copy(update={"name": "line_fd_laney", "method": "laney_p"})


def test_a_laney_rule_widens_the_limits_by_the_days_own_variation_and_still_catches_a_jump():
    import numpy as np

    # Overdispersed counts: each day's true rate wanders around 2% (beta-distributed), far more than binomial.
    rng = np.random.default_rng(11)
    rates = rng.beta(40, 1960, 120)
    healthy = [int(d) for d in rng.binomial(5000, rates)]
    binomial = judge_series(_series(healthy, 5000), P_CHART)
    laney = judge_series(_series(healthy, 5000), LANEY_P)
    assert binomial["adverse"].sum() >= 5  # the p-chart's limits are too narrow for these days
    assert laney["adverse"].sum() <= 1 and (laney["upper"] > binomial["upper"]).all()
    jumped = judge_series(_series(healthy[:60] + [5 * d for d in healthy[60:70]], 5000), LANEY_P)
    first = jumped[jumped["kpi_date"] == date(2026, 1, 1) + timedelta(days=60)].iloc[0]
    assert first["adverse"] and first["fired"].startswith("rule_1")  # a real shift, caught on its first day


def test_nelson_rules_are_chosen_per_rule_and_named_in_the_alert():
    # A steady climb inside the limits: six rising days complete Nelson's trend rule (3), which no Western Electric
    # rule looks for; a rule that names it fires on the sixth, one that names rule_1 alone stays quiet.
    history = [20, 18, 22, 21, 19] * 6
    climb = [21, 22, 23, 24, 25, 26]
    trend = P_CHART.model_copy(update={"name": "line_fd_trend", "rules": ["rule_1", "nelson_3"]})
    judged = judge_series(_series(history + climb), trend)
    fired = judged[judged["adverse"]]
    # The last history day (19) starts the climb: 19, 21, 22, 23, 24, 25 is six rising points on the fifth climb day.
    assert fired["kpi_date"].min() == date(2026, 1, 1) + timedelta(days=34)
    assert fired["fired"].iloc[0] == "nelson_3"
    assert not judge_series(_series(history + climb), P_CHART)["adverse"].any()
    with pytest.raises(ValueError, match="nelson_9"):
        P_CHART.model_validate({**P_CHART.model_dump(), "rules": ["nelson_9"]})


def test_a_laney_rule_on_binomial_counts_judges_by_probability_limits_not_the_skewed_3_sigma_ones():
    import numpy as np

    from transforms.spc import overdispersion

    # A step that sees about 3.5 defectives a day (n = 1000, p = 0.35%): binomial, but skewed. Its 3-sigma UCL is
    # 9.1 defectives, so a day with 10 crosses it although the binomial puts 10 or more at 0.25%, twice what 3 sigma
    # promises; the binomial's own 0.135% tail starts at 11.
    rng = np.random.default_rng(5)
    healthy = [int(d) for d in rng.binomial(1000, 0.0035, 40)]
    assert not overdispersion(healthy, [1000] * 40).needs_laney  # the binomial model fits
    day = date(2026, 1, 1) + timedelta(days=40)
    ten, eleven = (judge_series(_series([*healthy, d]), LANEY_P) for d in (10, 11))
    assert judge_series(_series([*healthy, 10]), P_CHART).iloc[-1]["adverse"]  # KPIS.md's p-chart fires
    assert ten.iloc[-1]["kpi_date"] == day and not ten.iloc[-1]["adverse"] and not ten.iloc[-1]["beyond"]
    assert eleven.iloc[-1]["adverse"] and eleven.iloc[-1]["fired"].startswith("rule_1")
    assert eleven.iloc[-1]["upper"] == pytest.approx(0.010)  # the largest count inside the tail, as a fraction


EWMA = P_CHART.model_copy(update={"name": "line_fd_drift", "method": "ewma", "rules": [], "ewma_lambda": 0.2,
                                  "ewma_width": 3.0})  # fmt: skip
CUSUM = EWMA.model_copy(update={"method": "cusum", "ewma_lambda": None, "ewma_width": None, "cusum_k": 0.5,
                                "cusum_h": 5.0})  # fmt: skip


def _drifting_line(seed: int, per_day: float) -> pd.DataFrame:
    """A line's daily fraction defective, 2,900 units a day around 1.5%, drifting up by ``per_day`` of its rate a
    day from day 50 of 90 (a wearing fixture)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rates = [0.015 * (1 + per_day * max(0, day - 50)) for day in range(90)]
    return _series([int(d) for d in rng.binomial(2900, rates)], 2900)


def _first_adverse(judged: pd.DataFrame) -> int | None:
    days = [(d - date(2026, 1, 1)).days for d in judged.loc[judged["adverse"], "kpi_date"]]
    return days[0] if days else None


def test_a_drift_rule_catches_a_slow_drift_days_before_the_shewhart_rules():
    p_chart = P_CHART.model_copy(update={"rules": ["rule_1", "rule_2"]})
    earlier = []
    for seed in range(6):
        series = _drifting_line(seed, 0.015)  # +1.5% of the rate a day: +30% after 20 days
        ewma, cusum, shewhart = (_first_adverse(judge_series(series, rule)) for rule in (EWMA, CUSUM, p_chart))
        assert ewma is not None and cusum is not None and ewma > 50 and cusum > 50  # nothing before the drift
        earlier.append((shewhart or 90) - min(ewma, cusum))
    assert sorted(earlier)[len(earlier) // 2] >= 5  # the median lead over rules 1 and 2: five days or more
    for seed in range(6):  # and no drift: nothing to catch
        assert _first_adverse(judge_series(_drifting_line(seed, 0.0), EWMA)) is None


def test_a_drift_alert_reads_in_the_kpis_unit_and_says_what_the_chart_summed():
    from alerts.lifecycle import describe

    series = _drifting_line(1, 0.03)
    for rule, was, words in (
        (EWMA, "S1: EWMA ", "beyond the EWMA's upper 3-sigma limit "),
        (CUSUM, " on average over the ", "where the CUSUM (k = 0.5, h = 5 sigma) signals an upward shift over "),
    ):
        judged = judge_series(series, rule)
        [episode] = episodes_of(judged, rule, ("S1", "L1", "ALL"))
        assert episode.value > episode.limit > episode.centre > 0.012  # the statistic beyond its bound, in fractions
        assert episode.fired == rule.method
        subject, text = describe(episode)
        assert subject.startswith("Fraction defective on line L1 at site S1: ") and was in subject and words in subject
        assert text.startswith(subject) and "%" in subject
