"""The p-chart and Western Electric rule 1, following KPIS.md; and the regression rule built on them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from alerts.regressions import p_chart_signals, top_defect_codes
from transforms.spc import p_chart_limits, rule_1_beyond_limits

pytestmark = pytest.mark.unit


def test_p_chart_limits_use_the_pooled_centre_and_each_points_own_n():
    # Baseline: 20 defective of 1,000 inspected -> p-bar 0.02. For n = 400: sigma = sqrt(.02 x .98 / 400) = 0.0070.
    centre, lcl, ucl = p_chart_limits(20, 1000, [400, 2500])
    assert centre == pytest.approx(0.02)
    assert ucl[0] == pytest.approx(0.02 + 3 * 0.007, abs=1e-6)
    assert lcl[0] == 0.0  # 0.02 - 0.021 < 0: clipped
    assert ucl[1] == pytest.approx(0.02 + 3 * np.sqrt(0.02 * 0.98 / 2500))
    assert lcl[1] == pytest.approx(0.02 - 3 * np.sqrt(0.02 * 0.98 / 2500))


def test_rule_1_flags_only_points_strictly_beyond_a_limit():
    flagged = rule_1_beyond_limits([0.05, 0.041, 0.0, 0.02], [0.0, 0.0, 0.001, 0.0], [0.041, 0.041, 0.041, 0.041])
    assert flagged.tolist() == [True, False, True, False]


def _series(days: int, defective: list[int], inspected: int = 1000) -> pd.DataFrame:
    start = date(2026, 1, 1)
    return pd.DataFrame(
        {
            "kpi_date": [start + timedelta(days=i) for i in range(days)],
            "numerator": defective,
            "denominator": [inspected] * days,
        }
    )


def test_a_jump_is_flagged_from_its_first_day_and_keeps_being_flagged():
    history = [20, 18, 22, 21, 19] * 6  # 30 in-control days around p = 0.02
    regression = [60] * 25  # p = 0.06 from day 31 on, for longer than the 28-day window
    signals = p_chart_signals(_series(55, history + regression), baseline_days=28, min_baseline_days=14)
    adverse = signals[signals["adverse"]]
    assert len(adverse) == 25
    assert adverse["kpi_date"].min() == date(2026, 1, 31)
    assert set(adverse["since_date"]) == {date(2026, 1, 31)}
    assert adverse["centre"].max() < 0.025  # the regression never becomes its own baseline


def test_an_improvement_beyond_the_lcl_is_out_of_control_but_not_a_regression():
    signals = p_chart_signals(_series(31, [20, 18, 22, 21, 19] * 6 + [0]), 28, 14)
    last = signals.iloc[-1]
    assert bool(last["beyond"]) and not bool(last["adverse"])


def test_days_without_enough_baseline_are_not_judged():
    signals = p_chart_signals(_series(20, [20] * 20), baseline_days=28, min_baseline_days=14)
    assert signals["kpi_date"].min() == date(2026, 1, 15)  # the 15th day has 14 days of history


def test_top_defect_codes_are_the_pareto_head_of_that_line_and_day():
    defects = pd.DataFrame(
        {
            "line_id": ["L1", "L1", "L1", "L2"],
            "production_date": [date(2026, 1, 1)] * 4,
            "defect_code": ["A", "B", "A", "C"],
            "defect_count": [3, 4, 3, 50],
        }
    )
    assert top_defect_codes(defects, "L1", date(2026, 1, 1)) == [
        {"defect_code": "A", "count": 6, "share": 0.6},
        {"defect_code": "B", "count": 4, "share": 0.4},
    ]
