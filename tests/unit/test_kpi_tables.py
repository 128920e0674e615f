"""KPI table builders on tiny hand-made frames: the people KPIs' stock counting."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from transforms.kpi_tables import people_kpis, period_cycle_quantiles

pytestmark = pytest.mark.unit


def test_overdue_and_compliance_on_hand_worked_days():
    employees = pd.DataFrame(
        {
            "employee_id": ["E1", "E2"],
            "site_id": "S1",
            "line_id": "L1",
            "role": "operator",
            "hired_on": [date(2026, 1, 1)] * 2,
            "left_on": [None, None],
        }
    )
    courses = pd.DataFrame({"course_id": ["C1"], "hours": [2.0], "pass_mark": [70.0], "validity_days": [10]})
    requirements = pd.DataFrame({"role": ["operator"], "course_id": ["C1"]})
    assignments = pd.DataFrame(
        {
            "assignment_id": ["A1", "A2"],
            "employee_id": ["E1", "E2"],
            "site_id": "S1",
            "line_id": "L1",
            "course_id": "C1",
            "assigned_on": [date(2026, 3, 1)] * 2,
            "due_on": [date(2026, 3, 5)] * 2,
            # E1 completes early (never overdue); E2 completes late, on the 8th.
            "completed_on": [date(2026, 3, 2), date(2026, 3, 8)],
            "status": "completed",
            "score": [90.0, 60.0],
        }
    )
    days = [date(2026, 3, d) for d in (4, 6, 8, 13)]
    rows = people_kpis(employees, courses, requirements, assignments, days)
    line = rows[rows["grain"] == "line"].set_index(["kpi", "kpi_date"])

    # Overdue on the 6th: E2's assignment is past due (5th) and not completed; open: E2's only.
    assert line.loc[("overdue_training_count", date(2026, 3, 6)), "value"] == 1
    assert line.loc[("overdue_training", date(2026, 3, 6)), "value"] == 1.0
    assert line.loc[("overdue_training_count", date(2026, 3, 4)), "value"] == 0
    assert line.loc[("overdue_training_count", date(2026, 3, 8)), "value"] == 0  # completed that day
    # Compliance: E1 valid from the 2nd for 10 days (to the 11th); E2 from the 8th to the 17th.
    assert line.loc[("training_compliance", date(2026, 3, 4)), "value"] == 0.5
    assert line.loc[("training_compliance", date(2026, 3, 8)), "value"] == 1.0
    assert line.loc[("training_compliance", date(2026, 3, 13)), "value"] == 0.5  # E1's completion expired
    # On the 8th E2 completes: 2 hours over a headcount of 2, one assessment scored 60 against a pass mark of 70.
    assert line.loc[("training_hours_per_employee", date(2026, 3, 8)), "value"] == 1.0
    assert line.loc[("assessment_pass_rate", date(2026, 3, 8)), "value"] == 0.0
    assert line.loc[("assessment_score", date(2026, 3, 8)), "value"] == 60.0


def test_monthly_cycle_time_quantiles_pool_the_runs_of_the_month():
    # Day 1: runs of 10 and 20 minutes (median 15); day 2: one run of 60 (median 60).
    # The month's median is the median of 10, 20, 60 = 20, not the mean (37.5) or median of the daily medians.
    start = pd.Timestamp("2026-03-02 06:00")
    runs = pd.DataFrame(
        {
            "production_date": [date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 3)],
            "site_id": "S1",
            "line_id": "S1-L1",
            "step_id": "ST1",
            "started_at": [start, start, start],
            "finished_at": [start + pd.Timedelta(minutes=m) for m in (10, 20, 60)],
        }
    )
    rows = period_cycle_quantiles(runs, "month")
    line = rows[(rows.grain == "line")].set_index("kpi")
    assert line.loc["cycle_time_median", "value"] == 20
    assert line.loc["cycle_time_p90", "value"] == pytest.approx(52.0)  # 20 + 0.8 x (60 - 20), linear
    assert set(rows.period_start) == {date(2026, 3, 1)} and set(rows.period) == {"month"}
    assert set(rows.grain) == {"step", "line", "site", "company"}


def test_trailing_correlation_is_pearsons_r_of_each_windows_known_pairs():
    from transforms.kpi_tables import CORRELATION_WINDOW, trailing_correlation

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=30), rng.normal(size=30)
    x[[3, 17]] = np.nan  # an unknown value drops its pair
    y[11] = np.nan
    position = np.r_[np.arange(12), np.arange(18)]  # two groups: 12 rows, then 18
    got = trailing_correlation(x, y, position)
    for row in range(30):
        first = max(row - CORRELATION_WINDOW + 1, row - position[row])
        xs, ys = x[first : row + 1], y[first : row + 1]
        known = ~np.isnan(xs) & ~np.isnan(ys)
        if known.sum() < 4:
            assert np.isnan(got[row])
        else:
            assert got[row] == pytest.approx(np.corrcoef(xs[known], ys[known])[0, 1], abs=1e-12)
    # A window's value comes from its own rows alone: the last rows give the same bits without the earlier ones.
    tail = trailing_correlation(x[20:], y[20:], position[20:] - 8)
    assert np.array_equal(tail[CORRELATION_WINDOW - 1 :], got[20 + CORRELATION_WINDOW - 1 :], equal_nan=True)


def _grouped_facts(rows: int, seed: int) -> pd.DataFrame:
    """Runs over a few days and places, with ties, missing values, a place with no values and a missing key."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "day": rng.choice([date(2026, 1, d) for d in range(1, 5)], rows).astype(object),
            "site_id": pd.Series(rng.choice(["S2", "S1", "S10"], rows), dtype="str"),
            "line_id": pd.Series(rng.choice(["L1", "L2", "L3"], rows), dtype="str"),
            "minutes": rng.choice([1.5, 2.25, 3.0, 7.125, np.nan], rows) + rng.integers(0, 3, rows),
            "units": rng.integers(0, 50, rows),
        }
    )
    frame.loc[frame["line_id"] == "L3", "minutes"] = np.nan  # a group whose values are all missing
    frame.loc[rows // 2, "site_id"] = None  # a row without a place is in no group
    return frame


@pytest.mark.parametrize("rows", [0, 1, 7, 400])
def test_grouped_sums_are_pandas_groups_in_key_order(rows):
    from transforms.kpi_tables import group_sums

    frame = _grouped_facts(rows, seed=rows)
    sums = group_sums(frame, ["day", "site_id", "line_id"], ["units", "minutes"])
    expected = frame.groupby(["day", "site_id", "line_id"], sort=True)[["units", "minutes"]].sum().reset_index()
    assert sums[["day", "site_id", "line_id"]].equals(expected[["day", "site_id", "line_id"]])
    assert sums["units"].tolist() == expected["units"].tolist()
    assert np.allclose(sums["minutes"], expected["minutes"])


@pytest.mark.parametrize("rows", [2, 7, 400, 5_000])
def test_small_grouped_quantiles_are_pandas_quantiles_to_the_bit(rows):
    """Below ``_SMALL_GROUPING`` rows the quantiles are sorted by numpy, above it by pandas: the same bits either way,
    missing values skipped, NaN for a group with none."""
    from transforms.kpi_tables import _group_quantiles, _sorted_group_quantiles

    frame = _grouped_facts(rows, seed=rows)
    keys = ["day", "site_id", "line_id"]
    groups, by_quantile = _sorted_group_quantiles(frame, keys, "minutes", [0.5, 0.9])
    expected = frame.groupby(keys)["minutes"].quantile([0.5, 0.9])
    for q in (0.5, 0.9):
        of_q = expected.xs(q, level=-1)
        assert groups.equals(of_q.index.to_frame(index=False))
        assert np.array_equal(by_quantile[q], of_q.to_numpy(), equal_nan=True)  # exact, NaN where nothing to rank
    assert np.isnan(by_quantile[0.5][groups["line_id"].eq("L3").to_numpy()]).all()
    large = pd.concat([frame] * (50_000 // rows + 1), ignore_index=True)  # pandas' side of _SMALL_GROUPING
    pandas_groups, pandas_quantiles = _group_quantiles(large, keys, "minutes", [0.5])
    numpy_groups, numpy_quantiles = _sorted_group_quantiles(large, keys, "minutes", [0.5])
    assert pandas_groups.equals(numpy_groups)
    assert np.array_equal(pandas_quantiles[0.5], numpy_quantiles[0.5], equal_nan=True)


def test_grouped_quantiles_of_signed_zeros_keep_pandas_sign():
    """-0.0 and 0.0 tie: which one a quantile yields depends on the sort, so such groups take pandas' own."""
    from transforms.kpi_tables import _group_quantiles

    frame = pd.DataFrame({"day": [date(2026, 1, 1)] * 6, "minutes": [0.0, -0.0, 0.0, -0.0, -0.0, 0.0]})
    groups, by_quantile = _group_quantiles(frame, ["day"], "minutes", [0.0, 0.5, 1.0])
    expected = frame.groupby(["day"])["minutes"].quantile([0.0, 0.5, 1.0])
    for q in (0.0, 0.5, 1.0):
        assert np.signbit(by_quantile[q]).tolist() == np.signbit(expected.xs(q, level=-1).to_numpy()).tolist()
