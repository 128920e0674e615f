"""Before and after an improvement: staged limits, the test that fits the KPI's chart, and the verdict."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.improvements import Improvement, ImprovementsFileError, load_improvements
from core.kpi_registry import REGISTRY
from transforms.improvements import Windows, compare_stages

pytestmark = pytest.mark.unit

CHANGE = date(2026, 3, 1)


def _days(values: list[tuple[float, float]], first: date) -> pd.DataFrame:
    """Daily rows (numerator, denominator) from ``first`` on, valued numerator / denominator."""
    rows = [
        {"kpi_date": first + timedelta(days=i), "numerator": n, "denominator": d, "value": n / d}
        for i, (n, d) in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _around(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> tuple[pd.DataFrame, Windows]:
    daily = pd.concat([_days(before, CHANGE - timedelta(days=len(before))), _days(after, CHANGE)], ignore_index=True)
    return daily, Windows.around(CHANGE, 10, CHANGE + timedelta(days=len(after) - 1))


def test_a_yield_improvement_is_tested_as_two_proportions_with_staged_limits():
    # Hand-worked: 10 days at 90 of 100 first-pass units, then 10 days at 95 of 100 (two of them at 100 of 100).
    daily, windows = _around([(90, 100)] * 10, [(95, 100)] * 8 + [(100, 100)] * 2)
    effect = compare_stages(daily, REGISTRY["fpy"], windows)
    assert effect is not None
    assert (effect.before_value, effect.after_value) == pytest.approx((0.9, 0.96))
    assert effect.test == "two-proportion z-test"
    pooled = (900 + 960) / 2000
    z = (0.96 - 0.9) / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert effect.statistic == pytest.approx(z)
    assert effect.p_value < 1e-6 and effect.verdict == "improved"
    # Each stage's own limits, at its mean daily sample size of 100: before 0.9 +/- 3 x 0.03.
    assert (effect.before_cl, effect.before_lcl, effect.before_ucl) == pytest.approx((0.9, 0.81, 0.99))
    assert effect.after_cl == pytest.approx(0.96) and effect.after_ucl == 1.0  # clipped at 1
    # The two perfect days lie above the before stage's UCL of 0.99: beyond it on the better side.
    assert (effect.after_beyond_favourable, effect.after_beyond_adverse) == (2, 0)
    assert effect.ci_low < 0.06 < effect.ci_high


def test_a_fraction_where_lower_is_better_rising_is_a_worsening():
    daily, windows = _around([(5, 100)] * 10, [(12, 100)] * 10)
    effect = compare_stages(daily, REGISTRY["scrap_rate"], windows)
    assert effect is not None and effect.verdict == "worsened"
    assert effect.difference == pytest.approx(0.07)
    assert effect.after_beyond_adverse == 10  # 0.12 is above the before UCL 0.05 + 3 sqrt(0.05 x 0.95 / 100)


def test_dpmo_compares_rates_in_the_kpis_own_units():
    daily, windows = _around([(40, 100_000)] * 10, [(20, 100_000)] * 10)
    effect = compare_stages(daily.assign(value=daily["value"] * 1e6), REGISTRY["dpmo"], windows)
    assert effect is not None and effect.test == "two-rate z-test"
    assert (effect.before_value, effect.after_value) == pytest.approx((400, 200))
    assert effect.ci_low == pytest.approx(-200 - 1.959964 * np.sqrt(200 / 1e6**2 + 400 / 1e6**2) * 1e6, rel=1e-5)
    assert effect.verdict == "improved"


def test_a_continuous_kpi_compares_daily_means_by_welch():
    rng = np.random.default_rng(3)
    before = [(v, 1.0) for v in rng.normal(0.60, 0.02, 10)]
    after = [(v, 1.0) for v in rng.normal(0.61, 0.02, 10)]
    daily, windows = _around(before, after)
    effect = compare_stages(daily, REGISTRY["oee"], windows)
    from scipy import stats

    expected = stats.ttest_ind([v for v, _ in after], [v for v, _ in before], equal_var=False)
    assert effect is not None and effect.test == "Welch t-test"
    assert (effect.statistic, effect.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert effect.verdict == ("improved" if expected.pvalue < 0.05 else "no clear change")


def test_a_change_with_a_few_days_behind_it_is_too_early():
    daily, windows = _around([(90, 100)] * 10, [(99, 100)] * 3)
    effect = compare_stages(daily, REGISTRY["fpy"], windows)
    assert effect is not None and effect.verdict == "too early"
    assert (effect.before_days, effect.after_days) == (10, 3) and np.isnan(effect.p_value)


def test_days_outside_both_windows_are_ignored():
    daily, _ = _around([(50, 100)] * 5 + [(90, 100)] * 10, [(95, 100)] * 10)
    effect = compare_stages(daily, REGISTRY["fpy"], Windows.around(CHANGE, 10, CHANGE + timedelta(days=9)))
    assert effect is not None and effect.before_days == 10 and effect.before_value == pytest.approx(0.9)


def test_an_improvement_names_its_scope_and_kpis_and_refuses_unknown_ones():
    change = Improvement(name="New solder paste (supplier B)", change_date=CHANGE, scope="S1/S1-L2", kpis=("fpy",))
    assert change.improvement_id == "new-solder-paste-supplier-b"
    assert (change.place, change.grain) == (("S1", "S1-L2", "ALL"), "line")
    with pytest.raises(ValidationError, match="unknown KPI yield"):
        Improvement(name="x", change_date=CHANGE, kpis=("yield",))
    with pytest.raises(ValidationError, match="expected ALL, SITE"):
        Improvement(name="x", change_date=CHANGE, scope="S1//SOLDER", kpis=("fpy",))
    # A line's improvement is judged by the KPIs that exist at line level (NPS is a site KPI).
    assert [k.code for k in change.model_copy(update={"kpis": ("fpy", "nps")}).judged_kpis()] == ["fpy"]


def test_the_improvements_file_is_validated_with_the_place_of_each_mistake(tmp_path):
    path = tmp_path / "improvements.yaml"
    assert load_improvements(path) == []  # optional
    path.write_text(
        "improvements:\n"
        "  - {name: Paste, change_date: 2026-03-01, scope: S1/S1-L2, kpis: [fpy]}\n"
        "  - {name: Refresher, change_date: 2026-03-x, kpis: [training_completion]}\n"
    )
    with pytest.raises(ImprovementsFileError, match=r"improvement Refresher, field change_date"):
        load_improvements(path)
    path.write_text("improvements:\n  - {name: Paste, change_date: 2026-03-01, kpis: [fpy], window_days: 28}\n")
    (listed,) = load_improvements(path)
    assert listed.change_date == CHANGE and listed.scope == "ALL"
