"""The SPC library against textbook examples with published limits, and the Western Electric rules.

Sources (the data are the books' tables; the expected limits are the books' published ones, to their rounding):
- Montgomery, D. C., *Introduction to Statistical Quality Control*, 6th ed., Wiley, 2009:
  Example 7.1 (p and np: orange-juice cans, 30 samples of n = 50, Table 7.1);
  Example 7.3 (c: nonconformities in 26 samples of 100 printed circuit boards, Table 7.7);
  Example 7.5 (u: nonconformities in 20 samples of 5 personal computers);
  Example 6.5 (I-MR: weekly mortgage loan processing costs, 20 weeks, Table 6.6);
  Example 6.3 (X-bar and R: inside diameters of piston rings, 25 samples of 5, Table 6.3, then 15 further samples
  of the same process for phase II; the same 40 samples ship with R's qcc package as ``pistonrings``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.spc import (
    A2,
    D3,
    D4,
    baseline_mask,
    c_chart,
    imr_chart,
    np_chart,
    p_chart,
    u_chart,
    western_electric,
    xbar_r_chart,
)

pytestmark = pytest.mark.unit

# Montgomery Table 7.1: nonconforming cans in 30 samples of 50.
CANS = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]
# Montgomery Table 7.7: nonconformities in 26 successive samples of 100 printed circuit boards.
BOARDS = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]
# Montgomery Example 7.5: total nonconformities in 20 samples of 5 personal computers.
COMPUTERS = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]
# Montgomery Example 6.3: piston ring diameters, mm; samples 1-25 (Table 6.3) are phase I, 26-40 phase II.
PISTON_RINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008],
    [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002],
    [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014],
    [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005],
    [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004],
    [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990],
    [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012],
    [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007],
    [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007],
    [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997],
    [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.988, 74.001, 74.009, 74.005, 73.996],
    [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014],
    [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013],
    [74.012, 74.015, 74.030, 73.986, 74.000],
    [73.995, 74.010, 73.990, 74.015, 74.001],
    [73.987, 73.999, 73.985, 74.000, 73.990],
    [74.008, 74.010, 74.003, 73.991, 74.006],
    [74.003, 74.000, 74.001, 73.986, 73.997],
    [73.994, 74.003, 74.015, 74.020, 74.004],
    [74.008, 74.002, 74.018, 73.995, 74.005],
    [74.001, 74.004, 73.990, 73.996, 73.998],
    [74.015, 74.000, 74.016, 74.025, 74.000],
    [74.030, 74.005, 74.000, 74.016, 74.012],
    [74.001, 73.990, 73.995, 74.010, 74.024],
    [74.015, 74.020, 74.024, 74.005, 74.019],
    [74.035, 74.010, 74.012, 74.015, 74.026],
    [74.017, 74.013, 74.036, 74.025, 74.026],
    [74.010, 74.005, 74.029, 74.000, 74.020],
]
# Montgomery Table 6.6: weekly mortgage loan processing costs.
LOAN_COSTS = [310, 288, 297, 298, 307, 303, 294, 297, 308, 306, 294, 299, 297, 299, 314, 295, 293, 306, 301, 304]


def test_p_chart_reproduces_montgomery_example_7_1():
    chart = p_chart(CANS, 50)
    assert chart["cl"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert chart["ucl"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert chart["lcl"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    assert list(np.flatnonzero(chart["out_of_control"]) + 1) == [15, 23]  # the book's samples 15 and 23


def test_p_chart_phase_two_applies_the_revised_limits_to_every_point():
    # Montgomery revises the limits without samples 15 and 23 (assignable causes): p-bar 0.2150, UCL 0.3893,
    # LCL 0.0407; sample 21 (0.40) then plots above the revised UCL.
    keep = np.ones(30, dtype=bool)
    keep[[14, 22]] = False
    chart = p_chart(CANS, 50, baseline=keep)
    assert (chart["cl"].iloc[0], chart["ucl"].iloc[0], chart["lcl"].iloc[0]) == pytest.approx(
        (0.2150, 0.3893, 0.0407), abs=5e-5
    )
    assert list(np.flatnonzero(chart["out_of_control"]) + 1) == [15, 21, 23]


def test_p_chart_with_variable_sample_sizes_pools_the_centre_line():
    chart = p_chart([10, 30], [100, 1000])
    assert chart["cl"].iloc[0] == pytest.approx(40 / 1100)  # not the mean of 0.10 and 0.03
    sigma = np.sqrt(40 / 1100 * (1 - 40 / 1100) / np.array([100, 1000]))
    assert chart["ucl"].to_numpy() == pytest.approx(40 / 1100 + 3 * sigma)
    assert chart["lcl"].iloc[0] == 0.0  # negative: clipped


def test_np_chart_reproduces_montgomery_example_7_1():
    chart = np_chart(CANS, 50)
    assert chart["cl"].iloc[0] == pytest.approx(11.57, abs=5e-3)
    assert chart["ucl"].iloc[0] == pytest.approx(20.51, abs=5e-3)
    assert chart["lcl"].iloc[0] == pytest.approx(2.62, abs=5e-3)
    assert list(np.flatnonzero(chart["out_of_control"]) + 1) == [15, 23]


def test_c_chart_reproduces_montgomery_example_7_3():
    chart = c_chart(BOARDS)
    # The book rounds c-bar to 19.85 before computing the limits: hence 0.01 on the limits.
    assert chart["cl"].iloc[0] == pytest.approx(19.85, abs=5e-3)
    assert (chart["ucl"].iloc[0], chart["lcl"].iloc[0]) == pytest.approx((33.22, 6.48), abs=1e-2)
    assert list(np.flatnonzero(chart["out_of_control"]) + 1) == [6, 20]


def test_u_chart_reproduces_montgomery_example_7_5():
    chart = u_chart(COMPUTERS, 5)
    assert (chart["cl"].iloc[0], chart["ucl"].iloc[0], chart["lcl"].iloc[0]) == pytest.approx(
        (1.93, 3.79, 0.07), abs=5e-3
    )
    assert not chart["out_of_control"].any()  # the book: the process is in control


def test_u_chart_with_variable_units_pools_and_clips():
    chart = u_chart([2, 30], [1, 10])
    assert chart["cl"].iloc[0] == pytest.approx(32 / 11)
    assert chart["lcl"].iloc[0] == 0.0 and chart["lcl"].iloc[1] == pytest.approx(32 / 11 - 3 * np.sqrt(32 / 11 / 10))


def test_imr_chart_reproduces_montgomery_example_6_5():
    individuals, moving = imr_chart(LOAN_COSTS)
    assert individuals["cl"].iloc[0] == pytest.approx(300.5)
    assert moving["cl"].iloc[0] == pytest.approx(7.79, abs=5e-3)
    assert (individuals["ucl"].iloc[0], individuals["lcl"].iloc[0]) == pytest.approx((321.22, 279.78), abs=5e-3)
    assert (moving["ucl"].iloc[0], moving["lcl"].iloc[0]) == pytest.approx((25.45, 0.0), abs=5e-3)
    assert individuals["sigma"].iloc[0] == pytest.approx(7.789 / 1.128, abs=1e-3)
    assert np.isnan(moving["value"].iloc[0]) and not moving["out_of_control"].iloc[0]
    assert not individuals["out_of_control"].any() and not moving["out_of_control"].any()


def test_imr_limits_use_three_over_d2_not_the_rounded_2_66():
    # KPIS.md: x-bar +/- 3 MR-bar / 1.128. With MR-bar 1 and x-bar 0 the limit is 2.65957..., not 2.66, so a point
    # at 2.6598 is beyond it (the rounded constant would call it in control).
    individuals, _ = imr_chart([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], baseline=10)
    mr_bar, x_bar = 1.0, 0.5
    assert individuals["ucl"].iloc[0] == pytest.approx(x_bar + 3 * mr_bar / 1.128, rel=1e-15)
    assert individuals["ucl"].iloc[0] != pytest.approx(x_bar + 2.66 * mr_bar, rel=1e-6)
    judged, _ = imr_chart([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, x_bar + 2.6598], baseline=10)
    assert judged["out_of_control"].tolist() == [False] * 10 + [True]


def test_imr_baseline_uses_only_ranges_between_baseline_points():
    individuals, moving = imr_chart([10, 12, 11, 50, 60], baseline=3)
    assert moving["cl"].iloc[0] == pytest.approx(1.5)  # |12-10| and |11-12|; not |50-11|
    assert individuals["cl"].iloc[0] == pytest.approx(11)
    assert individuals["out_of_control"].tolist() == [False, False, False, True, True]


def test_xbar_r_chart_uses_the_table_constants_for_n_5():
    # KPIS.md's constants for n = 5, and a hand-worked chart: means 10, 11, 12; ranges 2, 4, 3 -> R-bar 3.
    assert (A2[5], D3[5], D4[5]) == (0.577, 0.0, 2.114)
    subgroups = [[9, 10, 10, 10, 11], [9, 11, 11, 11, 13], [10, 12, 12, 13, 13]]
    xbar, r = xbar_r_chart(subgroups)
    assert xbar["value"].tolist() == [10, 11, 12]
    assert (xbar["cl"].iloc[0], xbar["ucl"].iloc[0], xbar["lcl"].iloc[0]) == pytest.approx((11, 12.731, 9.269))
    assert (r["cl"].iloc[0], r["ucl"].iloc[0], r["lcl"].iloc[0]) == pytest.approx((3, 2.114 * 3, 0))
    assert xbar["sigma"].iloc[0] == pytest.approx(3 / (2.326 * np.sqrt(5)))


def test_xbar_r_chart_reproduces_montgomery_example_6_3():
    xbar, r = xbar_r_chart(PISTON_RINGS, baseline=25)
    # Published: x-double-bar 74.001, R-bar 0.023, X-bar limits 74.014 / 73.988 (A2 = 0.577), R chart LCL 0.
    assert xbar["cl"].iloc[0] == pytest.approx(74.001, abs=5e-4)
    assert r["cl"].iloc[0] == pytest.approx(0.023, abs=5e-4)
    assert (xbar["ucl"].iloc[0], xbar["lcl"].iloc[0]) == pytest.approx((74.014, 73.988), abs=5e-4)
    # The book's R-chart UCL, 0.049, is D4 times R-bar rounded to 0.023; unrounded R-bar (0.02276) gives 0.0481.
    assert (r["ucl"].iloc[0], r["lcl"].iloc[0]) == pytest.approx((D4[5] * r["cl"].iloc[0], 0))
    assert not xbar["out_of_control"].iloc[:25].any() and not r["out_of_control"].any()  # phase I in control
    # Phase II: the mean drifts up; samples 37, 38 and 39 plot above the phase I UCL, the spread stays in control.
    assert [i + 1 for i in np.flatnonzero(xbar["out_of_control"])] == [37, 38, 39]


def test_xbar_r_phase_two_flags_a_shifted_subgroup():
    rng = np.random.default_rng(7)
    phase_one = rng.normal(100, 2, size=(25, 5))
    shifted = rng.normal(100, 2, size=(1, 5)) + 10  # five sigma of the mean: far beyond A2 R-bar
    xbar, r = xbar_r_chart(np.vstack([phase_one, shifted]), baseline=25)
    assert bool(xbar["out_of_control"].iloc[-1])
    assert xbar["ucl"].iloc[-1] == pytest.approx(phase_one.mean() + 0.577 * np.ptp(phase_one, axis=1).mean())
    assert not r["out_of_control"].iloc[-1]  # the spread did not change


def test_charts_keep_the_index_of_a_series():
    days = pd.date_range("2026-01-01", periods=4)
    chart = c_chart(pd.Series([1, 2, 3, 4], index=days))
    assert list(chart.index) == list(days)


def test_bad_baselines_are_refused_clearly():
    with pytest.raises(ValueError, match="between 1 and 3"):
        baseline_mask(5, 3)
    with pytest.raises(ValueError, match="one entry per point"):
        baseline_mask([True, False], 3)
    with pytest.raises(ValueError, match="no point"):
        baseline_mask([False, False], 2)


# The Western Electric rules: a series per rule that fires where the rule says, and series that must not fire.
def _rules(values: list[float]) -> pd.DataFrame:
    return western_electric(values, center=0.0, sigma=1.0)


def test_rule_1_one_point_strictly_beyond_three_sigma():
    rules = _rules([0, 3.0, -3.01, 0.5, 3.2])
    assert rules["rule_1"].tolist() == [False, False, True, False, True]  # on the limit is in control


def test_rule_2_two_of_three_beyond_two_sigma_flags_the_completing_point():
    rules = _rules([0, 2.5, 0.3, 2.2, 0])
    assert rules["rule_2"].tolist() == [False, False, False, True, False]
    assert not _rules([2.5, -2.5, 0, 2.5, 0, 0, 2.1]).rule_2.any()  # opposite sides, or too far apart
    assert not _rules([2.5, 0, 2.0]).rule_2.any()  # exactly 2 sigma is not beyond


def test_rule_3_four_of_five_beyond_one_sigma():
    rules = _rules([1.5, 1.2, 0.2, 1.1, 1.8, 0.0])
    assert rules["rule_3"].tolist() == [False, False, False, False, True, False]
    assert not _rules([1.5, 1.2, 0.2, 1.1, 0.5, 1.8]).rule_3.any()  # the fourth comes too late
    assert not _rules([-1.5, -1.2, 0.2, -1.1, 1.8]).rule_3.any()  # the flagged point must be on the side


def test_k_of_m_rules_need_a_full_window():
    # KPIS.md: nothing is flagged before the m-th point of the series, however the first points lie.
    assert _rules([2.5, 2.5, 0.0]).rule_2.tolist() == [False, False, False]
    assert _rules([0.0, 2.5, 2.5]).rule_2.tolist() == [False, False, True]  # the third point completes a full window
    assert _rules([1.5, 1.5, 1.5, 1.5, 0.0]).rule_3.tolist() == [False] * 5
    assert _rules([0.0, 1.5, 1.5, 1.5, 1.5]).rule_3.tolist() == [False] * 4 + [True]
    below = western_electric([-2.5, -2.5], center=0.0, sigma=1.0, side="below")
    assert not below["rule_2"].any()


def test_rule_4_eight_in_a_row_on_one_side_flags_from_the_eighth_on():
    values = [0.1] * 10 + [-0.2]
    rules = _rules(values)
    assert rules["rule_4"].tolist() == [False] * 7 + [True] * 3 + [False]
    assert not _rules([0.1] * 7 + [0.0] + [0.1] * 7).rule_4.any()  # a point on the centre line breaks the run
    assert not _rules([0.1] * 7 + [float("nan")] + [0.1] * 7).rule_4.any()  # so does a missing one


def test_rules_take_one_sigma_per_point():
    # A p-chart's sigma depends on each day's n: the same deviation is beyond 3 sigma only where n is large.
    rules = western_electric([0.05, 0.05], center=0.02, sigma=[0.02, 0.005])
    assert rules["rule_1"].tolist() == [False, True]


def test_an_in_control_normal_series_rarely_fires():
    values = np.random.default_rng(11).normal(0, 1, 10_000)
    rates = western_electric(values, 0.0, 1.0).mean()
    # Theoretical false-alarm rates per point: rule 1 0.27%; the others below 1% each.
    assert rates["rule_1"] == pytest.approx(0.0027, abs=0.0015)
    assert (rates < 0.01).all()


def test_one_sided_rules_watch_only_the_adverse_direction():
    values = [-3.5, 3.5]
    assert western_electric(values, 0.0, 1.0, side="above")["rule_1"].tolist() == [False, True]
    assert western_electric(values, 0.0, 1.0, side="below")["rule_1"].tolist() == [True, False]
