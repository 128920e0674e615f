"""Laney p'/u', EWMA, CUSUM, capability, before/after tests and the Nelson rules against published examples.

Sources (data and expected values are the publications' own, to their rounding, unless a test says it is hand-worked):
- Montgomery, D. C., *Introduction to Statistical Quality Control*, 6th ed., Wiley, 2009: Table 9.1 (30 observations,
  mu0 = 10, sigma = 1), Example 9.1 / Table 9.2 (tabular CUSUM, k = 0.5, h = 5), Example 9.2 (EWMA, lam = 0.1,
  L = 2.7); Table 6.3 (piston rings, also R qcc's ``pistonrings``). Table 9.1 is transcribed identically in the IMSL
  C# documentation's EWMA example (help.imsl.com/net/current/manual/docs/ewma.htm, "Montgomery 428") and in several
  public test suites; Table 9.2's upper sums as transcribed in the process_improve package's CUSUM tests.
- NIST/SEMATECH e-Handbook of Statistical Methods, section 6.3.2.4 (EWMA: 20 values, lam = 0.3, EWMA0 = 50,
  s = 2.0539; the page prints the EWMA series and UCL 52.5884, LCL 47.4115),
  https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc324.htm
- R qcc ``process.capability`` on ``pistonrings[1:25]`` (spec 73.95/74.05 and variants), as reproduced to four
  significant digits by the mistat package's comparison tests (gedeck/mistat, src/mistat/qcc/tests/
  test_processCapability.py): Cp 1.703, Cp_l 1.743, Cp_u 1.663, Cp_k 1.663, Cpm 1.691, StdDev 0.009785039.
- Minitab, "Methods and formulas for Laney P' Chart" (sigma_z = MR-bar / 1.128 of the z-scores), and hand-worked p'
  and u' cases (see there).
- Mohammed, Panesar, Laney and Wilson (2013), BMJ Qual Saf 22: the weekly share of NHS England's A&E patients seen
  within 4 hours, 20 weeks of about 280,000 attendances, as shipped in R qicharts2 (``nhs_accidents``, data/
  nhs_accidents.rda; the same table is printed in Anhoej's "SPC for Health Care" book). The qicharts2 vignette,
  "Prime charts for count data with very large sample sizes", labels its charts of these data (decimals = 3, the
  last week's limits): P' chart CL 95.290%, UCL 96.582%, LCL 93.997%; P chart UCL 95.411%, LCL 95.169%.
- Lane, D. M., HyperStat Online, "Tests of differences between proportions": 73 of 85 vs 43 of 82, z = 4.69.
- Wikipedia, "Welch's t-test", Example 1 (two samples of 15): t = -2.46, df = 24.9, p = 0.021 (the same data and
  p = 0.021 in Microsoft's Kusto ``welch_test`` documentation).
- Nelson, L. S. (1984), "The Shewhart control chart: tests for special causes", JQT 16(4), as listed by Minitab
  ("Nelson tests for special causes") and SAS/QC (SHEWHART procedure, "Standard Tests for Special Causes");
  SAS/QC's example "Applying Tests for Special Causes" on the ``Parts`` data (21 subgroup means and ranges of
  gap widths, n = 5, tests 1 to 5): only Test 5 signals, at sample 14.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.unit.test_spc_charts import PISTON_RINGS as MONTGOMERY_PISTON_RINGS
from transforms.spc import (
    D2,
    NELSON_RULES,
    capability,
    compare_means,
    compare_proportions,
    compare_rates,
    cusum_chart,
    ewma_chart,
    laney_p_chart,
    laney_u_chart,
    nelson,
    overdispersion,
    p_chart,
    u_chart,
)

pytestmark = pytest.mark.unit

# Montgomery Table 9.1: observations 1-20 from N(10, 1), 21-30 after the mean shifts to 11.
MONTGOMERY_9_1 = [
    *(9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34, 9.03, 11.47, 10.51, 9.40, 10.08),
    *(9.37, 10.62, 10.31, 8.52, 10.84, 10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52),
]
# Montgomery Table 9.2: the upper sum C+_i for periods 1 to 29 (mu0 = 10, K = 0.5, H = 5).
MONTGOMERY_9_2_UPPER = [
    *(0.0, 0.0, 0.0, 1.16, 2.82, 2.50, 0.04, 1.00, 0.0, 0.0, 0.0, 0.97, 0.98, 0.0, 0.0),
    *(0.0, 0.12, 0.0, 0.0, 0.34, 0.74, 0.0, 1.79, 2.79, 2.89, 3.47, 3.35, 4.47, 5.28),
]
# NIST e-Handbook 6.3.2.4: the 20 observations and the printed EWMA_1 .. EWMA_20 (EWMA_0 = 50 left out).
NIST_EWMA_DATA = [52.0, 47.0, 53.0, 49.3, 50.1, 47.0, 51.0, 50.1, 51.2, 50.5]
NIST_EWMA_DATA += [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
NIST_EWMA = [50.60, 49.52, 50.56, 50.18, 50.16, 49.21, 49.75, 49.85, 50.26, 50.33]
NIST_EWMA += [50.11, 49.36, 49.52, 50.05, 49.38, 49.92, 50.73, 51.23, 51.94, 51.99]
# Montgomery Table 6.3 (qcc pistonrings samples 1-25): inside diameters, mm, 25 samples of 5 (phase I).
PISTON_RINGS = MONTGOMERY_PISTON_RINGS[:25]
# SAS/QC Parts: subgroup means and ranges of gap widths for samples 1-21, n = 5.
SAS_PARTS_MEANS = [
    270,
    258,
    248,
    260,
    273,
    260,
    259,
    248,
    260,
    255,
    268,
    253,
    273,
    275,
    257,
    269,
    249,
    264,
    258,
    248,
    248,
]
SAS_PARTS_RANGES = [35, 25, 24, 39, 29, 21, 37, 37, 28, 19, 36, 36, 29, 22, 24, 41, 36, 31, 25, 36, 30]


def flagged(column: pd.Series) -> list:
    """The index labels of the points a boolean column flags."""
    return column.index[column.to_numpy()].tolist()


# --- CUSUM ----------------------------------------------------------------------------------------------------------


def test_cusum_reproduces_montgomery_table_9_2_and_signals_first_at_observation_29() -> None:
    chart = cusum_chart(pd.Series(MONTGOMERY_9_1, index=range(1, 31)), k=0.5, h=5.0, target=10.0, sigma=1.0)

    assert chart["c_plus"].iloc[:29].round(2).tolist() == MONTGOMERY_9_2_UPPER
    assert chart["c_plus"].loc[30] == pytest.approx(5.30, abs=0.005)  # not reset after the signal at 29
    assert flagged(chart["signal_upper"]) == [29, 30]
    assert flagged(chart["out_of_control"]) == [29, 30]
    assert not chart["signal_lower"].any()
    # Montgomery counts N+ = 7 periods with C+ > 0 at the signal: the shift began after period 22.
    assert chart["c_plus"].loc[22] == 0 and (chart["c_plus"].loc[23:29] > 0).all()
    # The lower sums, hand-worked: C-_1 = 9.5 - 9.45, C-_2 = 9.5 - 7.99 + 0.05, C-_3 = 9.5 - 9.29 + 1.56.
    assert chart["c_minus"].loc[1:3].tolist() == pytest.approx([0.05, 1.56, 1.77])
    assert (chart["ucl"] == 5.0).all() and (chart["lcl"] == -5.0).all() and (chart["cl"] == 0.0).all()


def test_cusum_value_is_the_sum_further_from_zero_signed() -> None:
    chart = cusum_chart(MONTGOMERY_9_1, target=10.0, sigma=1.0)
    assert chart["value"].iloc[:3].tolist() == pytest.approx([-0.05, -1.56, -1.77])  # -C- while C+ is 0
    assert chart["value"].iloc[28] == pytest.approx(5.28)
    assert chart["observation"].tolist() == MONTGOMERY_9_1


def test_cusum_sums_keep_accumulating_after_a_signal_and_the_limit_is_strict() -> None:
    # Hand-worked: with K = 0.5 each 12 adds 1.5 to C+: 0, 0, 1.5, 3, 4.5, 6, 7.5.
    chart = cusum_chart([10, 10, 12, 12, 12, 12, 12], target=10.0, sigma=1.0)
    assert chart["c_plus"].tolist() == pytest.approx([0, 0, 1.5, 3.0, 4.5, 6.0, 7.5])
    assert flagged(chart["signal_upper"]) == [5, 6]
    # A sum exactly on H does not signal: 10 + 0.5 + 5 in one step puts C+ on H = 5.
    assert not cusum_chart([15.5], target=10.0, sigma=1.0)["out_of_control"].any()
    assert cusum_chart([15.51], target=10.0, sigma=1.0)["out_of_control"].all()


def test_cusum_lower_sum_signals_a_downward_shift() -> None:
    chart = cusum_chart([10, 10, 8, 8, 8, 8, 8], target=10.0, sigma=1.0)
    assert chart["c_minus"].tolist() == pytest.approx([0, 0, 1.5, 3.0, 4.5, 6.0, 7.5])
    assert flagged(chart["signal_lower"]) == [5, 6] and not chart["signal_upper"].any()
    assert chart["value"].iloc[-1] == pytest.approx(-7.5)


def test_cusum_k_and_h_are_in_sigma_units() -> None:
    # sigma = 2: K = 1 and H = 10. x = 14 adds 14 - 11 = 3 per point: 3, 6, 9, 12 signals at the fourth.
    chart = cusum_chart([14, 14, 14, 14], target=10.0, sigma=2.0)
    assert chart["c_plus"].tolist() == pytest.approx([3, 6, 9, 12])
    assert flagged(chart["out_of_control"]) == [3]
    assert chart["ucl"].iloc[0] == 10.0 and chart["sigma"].iloc[0] == 2.0


def test_cusum_defaults_to_the_baseline_mean_and_moving_range_sigma() -> None:
    # Baseline = the first four points 1, 3, 2, 6: mean 3 (median 2.5), MR-bar (2 + 1 + 4) / 3, K = sigma / 2.
    chart = cusum_chart([1, 3, 2, 6, 9], baseline=4)
    sigma = 7 / 3 / D2[2]
    assert chart["sigma"].iloc[0] == pytest.approx(sigma)
    assert chart["ucl"].iloc[0] == pytest.approx(5 * sigma)
    assert chart["c_minus"].iloc[0] == pytest.approx((3 - 0.5 * sigma) - 1)
    assert chart["c_plus"].iloc[:3].tolist() == [0.0, 0.0, 0.0]
    assert chart["c_plus"].iloc[3] == pytest.approx(6 - (3 + 0.5 * sigma))


def test_cusum_missing_observation_carries_the_sums_and_never_signals() -> None:
    chart = cusum_chart([12, 12, np.nan, 12, 12, 12], target=10.0, sigma=1.0)
    assert chart["c_plus"].tolist() == pytest.approx([1.5, 3.0, np.nan, 4.5, 6.0, 7.5], nan_ok=True)
    assert flagged(chart["out_of_control"]) == [4, 5]


@pytest.mark.parametrize(("k", "h", "sigma"), [(-0.1, 5.0, 1.0), (0.5, 0.0, 1.0), (0.5, 5.0, 0.0)])
def test_cusum_rejects_invalid_design_parameters(k: float, h: float, sigma: float) -> None:
    with pytest.raises(ValueError, match="k must|h must|positive sigma"):
        cusum_chart([1.0, 2.0], k=k, h=h, target=0.0, sigma=sigma)


# --- EWMA -----------------------------------------------------------------------------------------------------------


def test_ewma_reproduces_the_nist_handbook_example() -> None:
    chart = ewma_chart(NIST_EWMA_DATA, lam=0.3, L=3.0, target=50.0, sigma=2.0539)

    assert chart["ewma"].round(2).tolist() == NIST_EWMA
    assert chart["value"].tolist() == chart["ewma"].tolist()
    assert chart["observation"].tolist() == NIST_EWMA_DATA
    # NIST uses the steady-state limits; by i = 20 the exact limits equal them (1 - 0.7^40 = 1 - 6e-7).
    assert chart["ucl"].iloc[-1] == pytest.approx(52.5884, abs=1e-4)
    assert chart["lcl"].iloc[-1] == pytest.approx(47.4115, abs=2e-4)  # NIST truncates 47.41159
    assert not chart["out_of_control"].any()  # NIST: the process is in control
    # The exact limits start narrower: at i = 1 the factor sqrt(lam / (2 - lam) (1 - (1 - lam)^2)) is exactly lam.
    assert chart["ucl"].iloc[0] == pytest.approx(50 + 3 * 2.0539 * 0.3)
    assert chart["sigma"].iloc[0] == pytest.approx(2.0539 * 0.3)
    assert (chart["cl"] == 50.0).all()


def test_ewma_montgomery_example_9_2_signals_first_at_observation_29() -> None:
    """Montgomery Example 9.2 (Table 9.1 data, mu0 = 10, sigma = 1, lam = 0.1, L = 2.7).

    The book's EWMA table (Table 9.11) could not be retrieved; the expected values are checked against the recursion
    and limits written out independently below, plus the identities z_1 = 0.1 x 9.45 + 0.9 x 10 = 9.945 and
    UCL_1 = 10 + 2.7 x 0.1 = 10.27.
    """
    chart = ewma_chart(pd.Series(MONTGOMERY_9_1, index=range(1, 31)), lam=0.1, L=2.7, target=10.0, sigma=1.0)

    expected, z = [], 10.0
    for i, x in enumerate(MONTGOMERY_9_1, start=1):
        z = 0.1 * x + 0.9 * z
        half = 2.7 * math.sqrt(0.1 / 1.9 * (1 - 0.9 ** (2 * i)))
        expected.append((z, 10 - half, 10 + half))
    assert chart[["ewma", "lcl", "ucl"]].to_numpy() == pytest.approx(np.array(expected))
    assert chart["ewma"].loc[1] == pytest.approx(9.945)
    assert (chart["lcl"].loc[1], chart["ucl"].loc[1]) == pytest.approx((9.73, 10.27))
    assert chart["ucl"].loc[30] == pytest.approx(10 + 2.7 * math.sqrt(0.1 / 1.9), abs=1e-3)  # steady state 10.62
    assert flagged(chart["out_of_control"]) == [29, 30]


def test_ewma_with_lambda_one_is_the_individuals_chart() -> None:
    chart = ewma_chart([1.0, 5.0, -3.0, -3.5], lam=1.0, L=3.0, target=0.0, sigma=1.0)
    assert chart["ewma"].tolist() == [1.0, 5.0, -3.0, -3.5]
    assert chart["ucl"].tolist() == pytest.approx([3.0] * 4) and chart["lcl"].tolist() == pytest.approx([-3.0] * 4)
    assert flagged(chart["out_of_control"]) == [1, 3]  # -3.0 is on the limit: in control


def test_ewma_defaults_to_the_baseline_mean_and_moving_range_sigma() -> None:
    # Baseline = first four points 1, 3, 2, 6: target 3 (the mean, not the median 2.5), sigma (7 / 3) / 1.128.
    chart = ewma_chart([1.0, 3.0, 2.0, 6.0, 20.0], lam=0.5, baseline=4)
    sigma = 7 / 3 / D2[2]
    assert (chart["cl"] == 3.0).all()
    assert chart["ewma"].iloc[0] == pytest.approx(0.5 * 1 + 0.5 * 3)
    assert chart["sigma"].iloc[-1] == pytest.approx(sigma * math.sqrt(0.5 / 1.5 * (1 - 0.5**10)))
    assert flagged(chart["out_of_control"]) == [4]  # 12.06 is far beyond 3 + 3 x 1.19


def test_ewma_missing_observation_holds_the_statistic() -> None:
    chart = ewma_chart([12.0, np.nan, 12.0], lam=0.5, target=10.0, sigma=1.0)
    assert chart["ewma"].tolist() == pytest.approx([11.0, np.nan, 11.5], nan_ok=True)
    # The third point is the second observation: i = 2.
    assert chart["sigma"].iloc[2] == pytest.approx(math.sqrt(0.5 / 1.5 * (1 - 0.5**4)))
    assert not chart["out_of_control"].iloc[1]


@pytest.mark.parametrize(("lam", "L"), [(0.0, 3.0), (1.5, 3.0), (0.2, 0.0)])
def test_ewma_rejects_invalid_parameters(lam: float, L: float) -> None:
    with pytest.raises(ValueError, match="lam must|L must"):
        ewma_chart([1.0, 2.0], lam=lam, L=L, target=0.0, sigma=1.0)


# --- Capability -----------------------------------------------------------------------------------------------------


def test_capability_matches_qcc_on_the_piston_rings() -> None:
    result = capability(PISTON_RINGS, 73.95, 74.05, subgroup_size=5)

    assert result.mean == pytest.approx(74.00118, abs=1e-5)
    assert result.sigma_within == pytest.approx(0.009785039, rel=1e-6)
    published = {"cp": 1.703, "cpl": 1.743, "cpu": 1.663, "cpk": 1.663, "cpm": 1.691}
    for name, value in published.items():
        assert getattr(result, name) == pytest.approx(value, abs=5e-4), name


@pytest.mark.parametrize(
    ("spec", "target", "published"),
    [
        ((73.95, 74.05), 74.02, {"cp": 1.703, "cpk": 1.663, "cpm": 0.7856}),
        ((73.99, 74.01), None, {"cp": 0.3407, "cpl": 0.3807, "cpu": 0.3006, "cpk": 0.3006, "cpm": 0.3382}),
        ((73.99, 74.1), None, {"cp": 1.8736, "cpl": 0.3807, "cpu": 3.3665, "cpk": 0.3807, "cpm": 0.4083}),
    ],
)
def test_capability_matches_qcc_for_other_targets_and_specs(spec: tuple, target: float | None, published: dict) -> None:
    result = capability(PISTON_RINGS, *spec, subgroup_size=5, target=target)
    for name, value in published.items():
        assert getattr(result, name) == pytest.approx(value, rel=5e-4), name


def test_capability_overall_indices_use_the_sample_standard_deviation() -> None:
    values = np.array(PISTON_RINGS).ravel()
    s = float(np.std(values, ddof=1))
    result = capability(values, 73.95, 74.05, subgroup_size=5)  # flat input, cut into consecutive fives
    assert result.sigma_overall == pytest.approx(s)
    assert result.pp == pytest.approx(0.1 / (6 * s))
    assert result.ppl == pytest.approx((values.mean() - 73.95) / (3 * s))
    assert result.ppu == pytest.approx((74.05 - values.mean()) / (3 * s))
    assert result.ppk == pytest.approx(min(result.ppl, result.ppu))
    assert result == capability(PISTON_RINGS, 73.95, 74.05, subgroup_size=5)


def test_capability_of_individuals_uses_the_moving_range() -> None:
    # Hand-worked: 10, 12, 11, 13, 14: mean 12, moving ranges 2, 1, 2, 1, MR-bar 1.5, sigma 1.5 / 1.128.
    result = capability([10, 12, 11, 13, 14], lsl=6, usl=20)
    sigma = 1.5 / 1.128
    assert (result.mean, result.sigma_within) == pytest.approx((12.0, sigma))
    assert result.cp == pytest.approx(14 / (6 * sigma))
    assert result.cpl == pytest.approx(6 / (3 * sigma)) and result.cpu == pytest.approx(8 / (3 * sigma))
    assert result.cpk == pytest.approx(result.cpl)
    # Target = midpoint 13, one below the mean: Cpm = 14 / (6 sqrt(sigma^2 + 1)).
    assert result.cpm == pytest.approx(14 / (6 * math.sqrt(sigma**2 + 1)))
    assert result.sigma_overall == pytest.approx(math.sqrt(2.5))


def test_capability_one_sided_spec_leaves_the_two_sided_indices_nan() -> None:
    upper_only = capability([10, 12, 11, 13, 14], lsl=None, usl=20)
    for name in ("cp", "cpl", "cpm", "pp", "ppl"):
        assert math.isnan(getattr(upper_only, name)), name
    assert upper_only.cpk == upper_only.cpu == pytest.approx(8 / (3 * 1.5 / 1.128))
    assert upper_only.ppk == upper_only.ppu
    lower_only = capability([10, 12, 11, 13, 14], lsl=6, usl=None, target=12)
    assert math.isnan(lower_only.cpu) and math.isnan(lower_only.cpm) and lower_only.cpk == lower_only.cpl


@pytest.mark.parametrize(
    ("values", "lsl", "usl", "size", "message"),
    [
        ([1.0, 2.0, 3.0], None, None, 1, "at least one specification"),
        ([1.0, 2.0, 3.0], 5.0, 5.0, 1, "must be below"),
        ([1.0, 2.0, 3.0], 0.0, 5.0, 2, "whole subgroups"),
        ([[1.0, 2.0, 3.0]], 0.0, 5.0, 2, "needs 2 columns"),
        ([1.0] * 22, 0.0, 5.0, 11, "subgroup_size"),
        ([1.0, 1.0, 1.0], 0.0, 5.0, 1, "vary"),
        ([1.0, np.nan, 3.0], 0.0, 5.0, 1, "finite"),
        ([], 0.0, 5.0, 1, "at least two values"),
    ],
)
def test_capability_rejects_invalid_input(values: list, lsl: float | None, usl: float | None, size: int, message: str):
    with pytest.raises(ValueError, match=message):
        capability(values, lsl, usl, subgroup_size=size)


# --- Laney p' and u' ------------------------------------------------------------------------------------------------


def test_laney_p_chart_hand_worked() -> None:
    """No published Laney p' example with its data and printed sigma_z was found; this one is worked out here step by
    step with plain arithmetic, following Laney (2002) and Minitab's "Methods and formulas for Laney P' Chart"."""
    defective, inspected = [300, 800, 200, 900, 450], [10000, 15000, 12000, 16000, 11000]
    chart = laney_p_chart(defective, inspected)

    p_bar = sum(defective) / sum(inspected)  # 2650 / 64000
    sigma_p = [math.sqrt(p_bar * (1 - p_bar) / n) for n in inspected]
    z = [(d / n - p_bar) / s for d, n, s in zip(defective, inspected, sigma_p, strict=True)]
    sigma_z = sum(abs(b - a) for a, b in zip(z, z[1:], strict=False)) / 4 / 1.128
    assert chart["cl"].iloc[0] == pytest.approx(p_bar)
    assert chart["z"].tolist() == pytest.approx(z)
    assert chart["sigma_z"].tolist() == pytest.approx([sigma_z] * 5)
    assert sigma_z > 10  # these points vary far more than binomially
    assert chart["sigma"].tolist() == pytest.approx([s * sigma_z for s in sigma_p])
    assert chart["ucl"].tolist() == pytest.approx([p_bar + 3 * s * sigma_z for s in sigma_p])
    assert chart["lcl"].tolist() == pytest.approx([max(0.0, p_bar - 3 * s * sigma_z) for s in sigma_p])
    # The p-chart calls four of the five points out of control; the p' chart none.
    assert flagged(p_chart(defective, inspected)["out_of_control"]) == [0, 1, 2, 3]
    assert not chart["out_of_control"].any()
    # Laney's point: the same fractions from subgroups a tenth the size give the same p' limits (sigma_z absorbs it).
    smaller = laney_p_chart([d // 10 for d in defective], [n // 10 for n in inspected])
    assert smaller[["ucl", "lcl"]].to_numpy() == pytest.approx(chart[["ucl", "lcl"]].to_numpy())


# Mohammed et al. (2013) via qicharts2's ``nhs_accidents``: week, patients seen within 4 hours, attendances.
NHS_ACCIDENTS = [
    (1, 266501, 280443), (2, 264225, 276823), (3, 276532, 291681), (4, 281461, 296155), (5, 269071, 282343),
    (6, 261215, 275888), (7, 270409, 283867), (8, 279778, 295251), (9, 270483, 284468), (10, 270320, 282529),
    (11, 267923, 279618), (12, 271478, 283932), (13, 255353, 266629), (14, 256820, 268091), (15, 261835, 276803),
    (16, 259144, 271578), (17, 255910, 266005), (18, 260863, 273520), (19, 264465, 278574), (20, 260989, 273772),
]  # fmt: skip


def test_laney_p_chart_reproduces_the_published_prime_chart_of_very_large_subgroups() -> None:
    """At 280,000 attendances a week the p-chart's limits are a hair wide and most weeks fall outside them, though the
    process is stable; the p' chart's limits, widened by sigma_z, are the ones qicharts2 prints."""
    seen, attendances = [r for _, r, _ in NHS_ACCIDENTS], [n for _, _, n in NHS_ACCIDENTS]
    prime, plain = laney_p_chart(seen, attendances), p_chart(seen, attendances)

    last = prime.iloc[-1]
    assert round(100 * last["cl"], 3) == 95.290
    assert round(100 * last["ucl"], 3) == 96.582
    assert round(100 * last["lcl"], 3) == 93.997
    assert (round(100 * plain["ucl"].iloc[-1], 3), round(100 * plain["lcl"].iloc[-1], 3)) == (95.411, 95.169)
    assert last["sigma_z"] == pytest.approx(10.64, abs=0.005)  # the weeks vary ten times as much as binomially
    assert plain["out_of_control"].sum() == 16 and not prime["out_of_control"].any()  # 16 of 20 weeks vs none
    # The dispersion test says so too, and why.
    dispersion = overdispersion(seen, attendances)
    assert dispersion.needs_laney and dispersion.sigma_z == pytest.approx(last["sigma_z"])
    assert dispersion.reason.startswith("overdispersed: the points vary 10.64 times as much as the binomial model")


def test_laney_u_chart_hand_worked_and_only_the_lower_limit_clipped() -> None:
    defects, units = [2, 30, 5, 40], [10, 20, 10, 20]
    chart = laney_u_chart(pd.Series(defects, index=list("abcd")), units)

    u_bar = 77 / 60
    sigma_u = [math.sqrt(u_bar / n) for n in units]
    z = [(c / n - u_bar) / s for c, n, s in zip(defects, units, sigma_u, strict=True)]
    sigma_z = (abs(z[1] - z[0]) + abs(z[2] - z[1]) + abs(z[3] - z[2])) / 3 / 1.128
    assert chart.index.tolist() == list("abcd")
    assert chart["z"].tolist() == pytest.approx(z)
    assert chart["sigma_z"].iloc[0] == pytest.approx(sigma_z)
    assert chart["ucl"].tolist() == pytest.approx([u_bar + 3 * s * sigma_z for s in sigma_u])
    assert (chart["lcl"] == 0).all()  # u-bar - 3 sigma_u sigma_z is negative at every point
    assert (chart["ucl"] > 1).all()  # a u chart's upper limit is not capped at 1


def test_laney_on_binomial_data_is_the_p_chart() -> None:
    """With truly binomial counts sigma_z is near 1 and the p' chart is the p-chart within that tolerance."""
    rng = np.random.default_rng(20240611)
    inspected = rng.integers(500, 5000, size=400)
    defective = rng.binomial(inspected, 0.04)
    laney, plain = laney_p_chart(defective, inspected), p_chart(defective, inspected)

    assert laney["sigma_z"].iloc[0] == pytest.approx(1.0, abs=0.08)
    assert laney["cl"].tolist() == plain["cl"].tolist()
    assert laney["ucl"].to_numpy() == pytest.approx(plain["ucl"].to_numpy(), rel=0.03)
    assert laney["sigma"].to_numpy() == pytest.approx(plain["sigma"].to_numpy() * laney["sigma_z"].iloc[0])
    assert not overdispersion(defective, inspected).needs_laney


def test_laney_u_on_poisson_data_is_the_u_chart() -> None:
    rng = np.random.default_rng(7)
    units = rng.integers(50, 400, size=400)
    defects = rng.poisson(units * 0.3)
    laney, plain = laney_u_chart(defects, units), u_chart(defects, units)
    assert laney["sigma_z"].iloc[0] == pytest.approx(1.0, abs=0.08)
    assert laney["ucl"].to_numpy() == pytest.approx(plain["ucl"].to_numpy(), rel=0.03)
    assert not overdispersion(defects, units, kind="u").needs_laney


def test_laney_limits_come_from_the_baseline_only() -> None:
    defective, inspected = [30, 80, 20, 90, 45, 500], [1000, 1500, 1200, 1600, 1100, 1000]
    phase_one = laney_p_chart(defective[:5], inspected[:5])
    chart = laney_p_chart(defective, inspected, baseline=5)
    assert chart["cl"].iloc[0] == pytest.approx(265 / 6400)
    assert chart["sigma_z"].iloc[0] == pytest.approx(phase_one["sigma_z"].iloc[0])
    assert chart["ucl"].iloc[:5].tolist() == pytest.approx(phase_one["ucl"].tolist())
    assert flagged(chart["out_of_control"]) == [5]  # 50% defective in phase II


@pytest.mark.parametrize(
    ("counts", "sizes", "message"),
    [
        ([0, 0, 0], [10, 10, 10], "strictly between 0 and 1"),
        ([1, 2, 3], [10, 0, 10], "positive sample size"),
        ([1, -2, 3], [10, 10, 10], "negative"),
        ([1], [10], "two consecutive baseline points"),
    ],
)
def test_laney_p_chart_rejects_degenerate_input(counts: list, sizes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        laney_p_chart(counts, sizes)


def test_overdispersion_calls_for_laney_on_beta_binomial_data() -> None:
    rng = np.random.default_rng(11)
    inspected = rng.integers(2000, 6000, size=60)
    defective = rng.binomial(inspected, rng.beta(40, 960, size=60))  # p varies around 0.04 from day to day
    result = overdispersion(defective, inspected)

    assert result.needs_laney
    assert result.sigma_z > 1.5
    assert result.df == 59 and result.p_value < 0.01
    assert result.chi_square == pytest.approx((laney_p_chart(defective, inspected)["z"] ** 2).sum())
    assert result.reason.startswith("overdispersed") and "p' chart" in result.reason
    assert p_chart(defective, inspected)["out_of_control"].sum() > 5
    assert laney_p_chart(defective, inspected)["out_of_control"].sum() <= 1


def test_overdispersion_flags_underdispersion() -> None:
    inspected = [1000, 2000, 1500, 1200, 1800, 1000, 2000, 1500]
    defective = [n // 25 for n in inspected]  # exactly 4% every day: far less spread than binomial
    result = overdispersion(defective, inspected)
    assert result.needs_laney and result.sigma_z < 1 and result.reason.startswith("underdispersed")


def test_overdispersion_leaves_a_sustained_shift_to_the_p_chart() -> None:
    # 30 days at exactly 5% then 30 at exactly 8%: a huge chi-square, but all of it from one step between stretches.
    inspected = [2000] * 60
    defective = [100] * 30 + [160] * 30
    result = overdispersion(defective, inspected)
    assert result.p_value < 1e-6 and result.sigma_z < 1
    assert not result.needs_laney
    assert "shifts between stretches" in result.reason and "keep the p-chart" in result.reason


def test_overdispersion_uses_the_baseline_and_rejects_an_unknown_kind() -> None:
    rng = np.random.default_rng(3)
    inspected = rng.integers(2000, 6000, size=40)
    defective = rng.binomial(inspected, 0.04)
    defective[30:] = inspected[30:] // 2  # phase II is wild; the baseline is binomial
    assert not overdispersion(defective, inspected, baseline=30).needs_laney
    assert overdispersion(defective, inspected, baseline=30).df == 29
    with pytest.raises(ValueError, match="kind must be p or u"):
        overdispersion(defective, inspected, kind="c")


# --- Before/after comparisons ---------------------------------------------------------------------------------------


def test_compare_proportions_matches_hyperstat() -> None:
    # HyperStat: graduates 43 of 82 without (before) and 73 of 85 with the intervention (after); z = 4.69.
    result = compare_proportions(43, 82, 73, 85)
    assert result.difference == pytest.approx(73 / 85 - 43 / 82)
    assert result.z == pytest.approx(4.69, abs=0.005)
    assert result.p_value < 0.0001
    # Independent check: z^2 is the uncorrected chi-square of the 2 x 2 table.
    chi2, p, _, _ = stats.chi2_contingency([[43, 82 - 43], [73, 85 - 73]], correction=False)
    assert result.z**2 == pytest.approx(chi2) and result.p_value == pytest.approx(p)
    half = 1.959964 * math.sqrt((73 / 85) * (12 / 85) / 85 + (43 / 82) * (39 / 82) / 82)
    assert (result.ci_low, result.ci_high) == pytest.approx((result.difference - half, result.difference + half))


def test_compare_proportions_sign_and_degenerate_cases() -> None:
    worse = compare_proportions(73, 85, 43, 82)
    assert worse.z == pytest.approx(-4.69, abs=0.005) and worse.difference < 0
    none = compare_proportions(0, 100, 0, 200)
    assert (none.difference, none.z, none.p_value) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [((5, 0, 1, 10), "sample size"), ((11, 10, 1, 10), "between 0 and 10"), ((1, 10, -1, 10), "after: the count")],
)
def test_compare_proportions_rejects_invalid_counts(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_proportions(*args)


def test_compare_rates_hand_worked() -> None:
    # 30 defects in 1000 units before, 50 in 1000 after: pooled rate 0.04, z = 0.02 / sqrt(0.04 x 0.002) = sqrt(5).
    # (With equal exposures the pooled and unpooled standard errors coincide; the next test tells them apart.)
    result = compare_rates(30, 1000, 50, 1000)
    assert result.difference == pytest.approx(0.02)
    assert result.z == pytest.approx(math.sqrt(5))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(math.sqrt(5)))
    # Independent check: z^2 is the chi-square of observed against expected counts under the pooled rate.
    assert result.z**2 == pytest.approx(stats.chisquare([30, 50], [40, 40]).statistic)
    half = 1.959964 * math.sqrt(50 / 1000**2 + 30 / 1000**2)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.02 - half, 0.02 + half))


def test_compare_rates_unequal_exposure_matches_the_pearson_chi_square() -> None:
    result = compare_rates(12, 400, 45, 900)
    pooled = 57 / 1300
    assert result.z**2 == pytest.approx(stats.chisquare([12, 45], [pooled * 400, pooled * 900]).statistic)
    assert result.difference == pytest.approx(45 / 900 - 12 / 400)
    half = 1.959964 * math.sqrt(45 / 900**2 + 12 / 400**2)  # unpooled, unlike the test's standard error
    assert (result.ci_low, result.ci_high) == pytest.approx((result.difference - half, result.difference + half))


@pytest.mark.parametrize(("args", "message"), [((1, 0, 1, 10), "exposure"), ((-1, 10, 1, 10), "0 or more")])
def test_compare_rates_rejects_invalid_input(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_rates(*args)


WELCH_A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
WELCH_A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_compare_means_matches_the_published_welch_example_and_scipy() -> None:
    result = compare_means(WELCH_A1, WELCH_A2)  # after minus before: the published t with the opposite sign
    assert result.t == pytest.approx(2.46, abs=0.005)
    assert result.df == pytest.approx(24.9, abs=0.1)
    assert round(result.p_value, 3) == 0.021

    reference = stats.ttest_ind(WELCH_A2, WELCH_A1, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.t == pytest.approx(reference.statistic)
    assert result.df == pytest.approx(reference.df)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))
    assert result.difference == pytest.approx(np.mean(WELCH_A2) - np.mean(WELCH_A1))


def test_compare_means_drops_missing_values() -> None:
    with_gaps = compare_means([*WELCH_A1, np.nan], pd.Series([np.nan, *WELCH_A2]))
    assert with_gaps == compare_means(WELCH_A1, WELCH_A2)


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ([], [1.0, 2.0], "two values before"),
        ([1.0, 2.0], [3.0], "two values after"),
        ([1.0, 1.0], [2.0, 2.0], "constant"),
        ([1.0, np.inf], [2.0, 3.0], "finite"),
    ],
)
def test_compare_means_rejects_invalid_input(before: list, after: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_means(before, after)


# --- Nelson rules ---------------------------------------------------------------------------------------------------


def rule(values: list, number: int, side: str = "both", center: object = 0.0, sigma: object = 1.0) -> list:
    return flagged(nelson(values, center, sigma, side)[f"nelson_{number}"])


def test_nelson_columns_and_descriptions() -> None:
    frame = nelson(pd.Series([0.0, 1.0], index=["d1", "d2"]), 0.0, 1.0)
    assert list(frame.columns) == list(NELSON_RULES) == [f"nelson_{i}" for i in range(1, 9)]
    assert frame.index.tolist() == ["d1", "d2"]
    assert frame.dtypes.eq(bool).all()


def test_nelson_reproduces_the_sas_parts_example() -> None:
    means = pd.Series(SAS_PARTS_MEANS, index=range(1, 22), dtype="float64")
    sigma = np.mean(SAS_PARTS_RANGES) / D2[5] / math.sqrt(5)  # X-bar chart: R-bar / d2 / sqrt(n)
    frame = nelson(means, means.mean(), sigma)
    assert flagged(frame["nelson_5"]) == [14]
    assert not frame[["nelson_1", "nelson_2", "nelson_3", "nelson_4"]].any().any()


def test_nelson_1_one_point_strictly_beyond_3_sigma() -> None:
    assert rule([0, 0, 3.5, 0, -3.01, 3.0, -3.0], 1) == [2, 4]
    assert rule([0, 0, 3.5, 0, -3.01], 1, side="above") == [2]
    assert rule([0, 0, 3.5, 0, -3.01], 1, side="below") == [4]
    # Centre and sigma per point: 5 is 2.5 sigma out of a sigma of 2, 3.5 sigma out of a sigma of 1.
    assert rule([5.0, 5.0], 1, sigma=[2.0, 1.0], center=[0.0, 1.5]) == [1]


def test_nelson_2_nine_in_a_row_on_one_side() -> None:
    assert rule([-0.5] + [0.5] * 10, 2) == [9, 10]
    assert rule([0.5] * 8, 2) == []
    assert rule([0.5] * 4 + [0.0] + [0.5] * 8, 2) == []  # a point on the centre line breaks the run
    assert rule([0.5] * 4 + [np.nan] + [0.5] * 8, 2) == []  # so does a missing value
    assert rule([-0.5] * 9, 2) == [8] and rule([-0.5] * 9, 2, side="above") == []


def test_nelson_3_six_points_steadily_rising_or_falling() -> None:
    rising = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert rule(rising, 3) == [5, 6]  # the sixth point completes five rises
    assert rule(rising[:5], 3) == []
    assert rule([0.0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6], 3) == []  # a tie breaks the trend
    falling = [-x for x in rising]
    assert rule(falling, 3) == [5, 6] and rule(falling, 3, side="below") == [5, 6]
    assert rule(falling, 3, side="above") == [] and rule(rising, 3, side="below") == []
    assert rule([0.0, 0.1, 0.2, np.nan, 0.3, 0.4, 0.5, 0.6], 3) == []


def test_nelson_4_fourteen_points_alternating() -> None:
    zigzag = [0.5 if i % 2 else -0.5 for i in range(16)]
    assert rule(zigzag, 4) == [13, 14, 15]
    assert rule(zigzag[:13], 4) == []
    assert rule(zigzag, 4, side="above") == [13, 14, 15]  # no direction: whatever the side
    broken = zigzag[:7] + [zigzag[6]] + zigzag[7:]  # a repeated value breaks the alternation
    assert rule(broken, 4) == []


def test_nelson_5_two_of_three_beyond_2_sigma_same_side() -> None:
    assert rule([0, 2.5, 0, 2.1], 5) == [3]
    assert rule([2.5, 2.5], 5) == []  # the window of three is not full
    assert rule([2.5, 2.5, 0.0], 5) == []  # the third point is not beyond 2 sigma
    assert rule([0.0, 2.5, 2.5], 5) == [2]
    assert rule([0.0, 2.5, -2.5], 5) == []  # opposite sides
    assert rule([0.0, -2.5, -2.01], 5) == [2] and rule([0.0, -2.5, -2.01], 5, side="above") == []
    assert rule([0.0, 2.5, 2.0], 5) == []  # exactly 2 sigma is not beyond


def test_nelson_6_four_of_five_beyond_1_sigma_same_side() -> None:
    assert rule([1.5, 1.5, 0.0, 1.5, 1.5], 6) == [4]
    assert rule([1.5, 1.5, 1.5, 1.5], 6) == []  # the window of five is not full
    assert rule([0.0, 1.5, 1.5, 1.5, 1.5], 6) == [4]
    assert rule([0.0, 1.5, 1.5, -1.5, 1.5], 6) == []
    assert rule([0.0, -1.5, -1.5, -1.5, -1.5, -1.5], 6, side="below") == [4, 5]


def test_nelson_7_fifteen_points_within_1_sigma() -> None:
    hugging = [0.3, -0.2, 1.0, 0.1, -1.0] * 3  # exactly 1 sigma out is within
    assert rule(hugging, 7) == [14]
    assert rule(hugging[:14], 7) == []
    assert rule(hugging[:7] + [1.01] + hugging[7:], 7) == []
    assert rule(hugging, 7, side="below") == [14]
    assert rule(hugging[:7] + [np.nan] + hugging[7:], 7) == []


def test_nelson_8_eight_points_beyond_1_sigma_either_side() -> None:
    mixture = [1.5, -1.5, 2.0, -2.5, 1.2, -1.1, 1.5, -1.5, 1.6]
    assert rule(mixture, 8) == [7, 8]
    assert rule(mixture[:7], 8) == []
    assert rule(mixture[:4] + [1.0] + mixture[4:], 8) == []  # a point exactly 1 sigma out breaks the run
    assert rule(mixture, 8, side="above") == [7, 8]
    assert rule([1.5] * 8, 8) == [7]  # Nelson's wording does not require both sides


def test_nelson_quiet_series_flags_nothing() -> None:
    rng = np.random.default_rng(5)
    quiet = np.round(rng.normal(0, 1, 30).clip(-1.9, 1.9), 2)
    frame = nelson(quiet, 0.0, 1.0)
    assert not frame[["nelson_1", "nelson_5"]].any().any()  # nothing beyond 2 sigma at all
    assert not nelson([np.nan] * 20, 0.0, 1.0).any().any()


def test_nelson_rejects_an_unknown_side() -> None:
    with pytest.raises(ValueError, match="side must be"):
        nelson([0.0], 0.0, 1.0, side="up")


def test_probability_limits_use_the_poisson_tail_where_3_sigma_would_flag_a_common_count():
    from transforms.spc import probability_u_chart, u_chart

    # Hand-worked: u-bar = 2 defects per unit, one unit a day. 3 sigma puts the UCL at 2 + 3 sqrt(2) = 6.24, so 7
    # defects are "out of control"; but P(X >= 7) = 1 - e^-2 (1 + 2 + 2 + 4/3 + 2/3 + 4/15 + 4/45) = 0.00453, over
    # three times the 0.135% a 3-sigma limit promises. P(X >= 8) = 0.00110 is inside it: the limit is 7.
    baseline = [2, 1, 3, 2, 2, 1, 3, 2, 2, 2]
    counts = [*baseline, 7, 8]
    normal = u_chart(counts, 1, baseline=10)
    exact = probability_u_chart(counts, 1, baseline=10)
    assert normal["out_of_control"].tolist()[-2:] == [True, True]
    assert exact["out_of_control"].tolist()[-2:] == [False, True]
    assert exact["ucl"].iloc[-1] == 7 and exact["lcl"].iloc[-1] == 0
    assert exact["normal_score"].iloc[-2] == pytest.approx(2.61, abs=0.005)  # beyond 2 sigma, inside 3
    assert exact["normal_score"].iloc[-1] > 3


def test_probability_limits_match_3_sigma_where_the_binomial_is_near_normal():
    from transforms.spc import p_chart, probability_p_chart

    counts, sizes = [200, 190, 210, 205, 195] * 4, [10_000] * 20  # n p-bar = 200
    exact, normal = probability_p_chart(counts, sizes), p_chart(counts, sizes)
    assert exact["ucl"].iloc[0] == pytest.approx(normal["ucl"].iloc[0], rel=0.01)
    assert exact["lcl"].iloc[0] == pytest.approx(normal["lcl"].iloc[0], rel=0.02)


def test_a_laney_chart_takes_sigma_z_from_a_longer_history_when_given():
    chart = laney_p_chart([20, 30, 25, 35], [1000] * 4, sigma_z=1.5)
    plain = laney_p_chart([20, 30, 25, 35], [1000] * 4)
    assert (chart["sigma_z"] == 1.5).all() and plain["sigma_z"].iloc[0] != 1.5
    assert chart["ucl"].iloc[0] == pytest.approx(0.0275 + 3 * 1.5 * (0.0275 * 0.9725 / 1000) ** 0.5)
    with pytest.raises(ValueError, match="sigma_z must be positive"):
        laney_p_chart([20, 30], [1000, 1000], sigma_z=0)
