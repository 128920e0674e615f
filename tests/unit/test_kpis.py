"""The KPI formulas against hand-worked numbers, with KPIS.md's conventions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transforms import kpis

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("first_pass", "entered", "expected"),
    [(95, 100, 0.95), (0, 40, 0.0), (973, 1000, 0.973)],
)
def test_fpy_is_first_pass_units_over_units_entered(first_pass, entered, expected):
    assert kpis.fpy(first_pass, entered) == pytest.approx(expected)


def test_a_zero_denominator_gives_nan_never_zero_or_an_error():
    assert math.isnan(kpis.fpy(0, 0))
    assert math.isnan(kpis.training_completion_rate(0, 3, exempt=3))
    assert math.isnan(kpis.nps([]))


def test_formulas_keep_the_shape_of_their_input():
    series = kpis.fpy(pd.Series([9, 0, 5], index=["a", "b", "c"]), pd.Series([10, 0, 10], index=["a", "b", "c"]))
    assert list(series.index) == ["a", "b", "c"]
    assert series["a"] == pytest.approx(0.9) and np.isnan(series["b"])
    array = kpis.dpmo(np.array([5, 0]), np.array([100, 100]), np.array([10, 10]))
    assert isinstance(array, np.ndarray) and array.tolist() == [5000.0, 0.0]


def test_dpmo_uses_the_products_opportunities_per_unit():
    # 25 defects on 500 units with 10 opportunities each: 25 / 5,000 x 1e6.
    assert kpis.dpmo(25, 500, 10) == pytest.approx(5000.0)
    assert kpis.dpmo(25, 500, 20) == pytest.approx(2500.0)


@pytest.mark.parametrize(
    ("dpmo", "sigma"),
    [(3.4, 6.0), (233.0, 5.0), (6210.0, 4.0), (66807.0, 3.0), (308538.0, 2.0)],
)
def test_sigma_level_follows_the_short_term_table_with_the_1_5_shift(dpmo, sigma):
    assert kpis.sigma_level(dpmo) == pytest.approx(sigma, abs=0.005)
    assert kpis.dpmo_for_sigma(sigma) == pytest.approx(dpmo, rel=0.01)


def test_sigma_level_of_zero_defects_is_unbounded():
    assert kpis.sigma_level(0.0) == math.inf


def test_fraction_defective_and_dpu():
    assert kpis.fraction_defective(12, 400) == pytest.approx(0.03)
    assert kpis.dpu(30, 400) == pytest.approx(0.075)  # a unit can carry several defects


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10, 9, 8, 7, 6, 0], 0.0),  # 2 promoters, 2 passives, 2 detractors
        ([10, 10, 9, 0], 50.0),  # 75% - 25%
        ([0, 1, 6], -100.0),
        ([9, None, 10], 100.0),  # a missing score is not a response
    ],
)
def test_nps_is_percent_promoters_minus_percent_detractors(scores, expected):
    assert kpis.nps(scores) == pytest.approx(expected)


def test_nps_from_counts_matches_nps_of_the_scores():
    assert kpis.nps_from_counts(3, 1, 4) == pytest.approx(kpis.nps([10, 10, 9, 0]))


def test_csat_counts_four_and_five_over_scored_responses():
    assert kpis.csat([5, 4, 3, 1, None]) == pytest.approx(0.5)


def test_training_completion_excludes_exempted_assignments_from_the_denominator():
    assert kpis.training_completion_rate(8, 10, exempt=2) == pytest.approx(1.0)
    assert kpis.training_completion_rate(9, 10) == pytest.approx(0.9)


def test_rty_is_the_product_of_the_step_fpys():
    assert kpis.rty([0.98, 0.95, 0.99]) == pytest.approx(0.98 * 0.95 * 0.99)
    per_route = kpis.rty(np.array([[0.9, 0.9], [1.0, 0.5]]))
    assert per_route.tolist() == pytest.approx([0.81, 0.5])
    assert math.isnan(kpis.rty([0.9, float("nan")])) and math.isnan(kpis.rty([]))


def test_oee_multiplies_availability_performance_and_quality():
    # 480 planned minutes, 48 down -> 432 run; 1.2 s ideal cycle x 19,440 units = 388.8 min -> 0.9; 19,000 good.
    result = kpis.oee(480, 48, 1.2, 19_440, 19_000)
    assert result.availability == pytest.approx(0.9)
    assert result.performance == pytest.approx(0.9)
    assert result.quality == pytest.approx(19_000 / 19_440)
    assert result.oee == pytest.approx(0.9 * 0.9 * 19_000 / 19_440)


def test_oee_with_no_planned_time_or_output_is_nan():
    result = kpis.oee(np.array([0.0, 480.0]), np.array([0.0, 480.0]), 1.0, np.array([0, 0]), np.array([0, 0]))
    assert np.isnan(result.availability[0]) and result.availability[1] == 0.0
    assert np.isnan(result.performance).all() and np.isnan(result.quality).all()


def test_scrap_and_rework_rates_are_over_units_entering():
    assert kpis.scrap_rate(3, 200) == pytest.approx(0.015)
    assert kpis.rework_rate(7, 200) == pytest.approx(0.035)


def test_cycle_time_mean_median_and_p90():
    result = kpis.cycle_time([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert (result.mean, result.median) == (55.0, 55.0)
    assert result.p90 == pytest.approx(91.0)  # linear interpolation between the 9th and 10th values
    assert math.isnan(kpis.cycle_time([]).mean)


def test_cost_of_quality_by_paf_category():
    result = kpis.cost_of_quality(10, 20, 30, 40, revenue=1000)
    assert (result.total, result.copq) == (100.0, 70.0)
    assert result.copq_share_of_revenue == pytest.approx(0.07)
    assert (result.prevention_share, result.external_failure_share) == (0.1, 0.4)
    assert math.isnan(kpis.cost_of_quality(10, 20, 30, 40).copq_share_of_revenue)
    assert math.isnan(kpis.cost_of_quality(0, 0, 0, 0, revenue=10).prevention_share)


def test_retention_excludes_customers_acquired_in_the_period():
    # 200 at the start, 210 at the end of whom 30 are new: 180 of the 200 were kept.
    assert kpis.retention_rate(200, 210, 30) == pytest.approx(0.9)
    assert math.isnan(kpis.retention_rate(0, 10, 10))


def test_complaint_rate_is_per_thousand_units_shipped():
    assert kpis.complaint_rate(3, 12_000) == pytest.approx(0.25)


def test_nps_of_all_passives_is_zero():
    assert kpis.nps([7, 8, 7, 8]) == 0.0


def test_people_kpis():
    assert kpis.training_compliance_rate(45, 50) == pytest.approx(0.9)
    assert kpis.overdue_share(4, 80) == pytest.approx(0.05)
    assert kpis.assessment_pass_rate(18, 20) == pytest.approx(0.9)
    assert kpis.training_hours_per_employee(120, 40) == pytest.approx(3.0)
    assert math.isnan(kpis.training_hours_per_employee(5, 0))
