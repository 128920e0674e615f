"""Statistical process control charts and the Western Electric rules, following ``KPIS.md`` exactly.

Every chart returns a DataFrame with one row per point and the columns ``value``, ``cl``, ``ucl``, ``lcl``,
``sigma`` (one standard deviation of the plotted statistic at that point) and ``out_of_control`` (strictly beyond
a limit: a point on a limit is in control). ``baseline`` chooses the points the limits are estimated from
(phase I): ``None`` for every point, a number for the leading points, or a boolean mask; the limits then apply to
every point (phase II). With a variable sample size the centre line is pooled (sum of numerators / sum of
denominators), never the mean of the ratios. Negative lower limits are clipped to 0 for the p, np, c, u, R and MR
charts, and the p-chart's upper limit to 1.

Written here rather than taken from a library: the Python SPC packages on PyPI are unmaintained or plot-first,
and none follows these conventions (pooled centre lines, strict limits, the phase I/II split per point).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

# Shewhart table constants by subgroup size n (ASTM STP 15D; Montgomery, Introduction to SQC, Appendix VI).
A2 = {2: 1.880, 3: 1.023, 4: 0.729, 5: 0.577, 6: 0.483, 7: 0.419, 8: 0.373, 9: 0.337, 10: 0.308}
D3 = {2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.0, 7: 0.076, 8: 0.136, 9: 0.184, 10: 0.223}
D4 = {2: 3.267, 3: 2.574, 4: 2.282, 5: 2.114, 6: 2.004, 7: 1.924, 8: 1.864, 9: 1.816, 10: 1.777}
D2 = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847, 9: 2.970, 10: 3.078}

Baseline: TypeAlias = int | Sequence[bool] | np.ndarray | pd.Series | None


def baseline_mask(baseline: Baseline, points: int) -> np.ndarray:
    """The phase I points as a boolean array: all, the first ``baseline``, or the mask itself."""
    if baseline is None:
        mask = np.ones(points, dtype=bool)
    elif isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        if not 0 < baseline <= points:
            raise ValueError(f"baseline must be between 1 and {points} leading points, not {baseline}")
        mask = np.arange(points) < baseline
    else:
        mask = np.asarray(baseline, dtype=bool)
        if mask.shape != (points,):
            raise ValueError(f"a baseline mask needs one entry per point ({points}), not {mask.shape}")
    if not mask.any():
        raise ValueError("the baseline holds no point to estimate the limits from")
    return mask


def _chart(value: Any, cl: Any, sigma: Any, lcl: Any, ucl: Any, index: Any = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "value": np.asarray(value, dtype="float64"),
            "cl": np.broadcast_to(np.asarray(cl, dtype="float64"), np.shape(value)),
            "ucl": np.broadcast_to(np.asarray(ucl, dtype="float64"), np.shape(value)),
            "lcl": np.broadcast_to(np.asarray(lcl, dtype="float64"), np.shape(value)),
            "sigma": np.broadcast_to(np.asarray(sigma, dtype="float64"), np.shape(value)),
        },
        index=index,
    )
    frame["out_of_control"] = (frame["value"] > frame["ucl"]) | (frame["value"] < frame["lcl"])
    return frame


def _index_of(data: Any) -> Any:
    return data.index if isinstance(data, (pd.Series, pd.DataFrame)) else None


def p_chart_limits(baseline_defective: float, baseline_inspected: float, sample_size: Any) -> tuple[float, Any, Any]:
    """Centre line and 3-sigma limits of a p-chart for each point's own sample size.

    p-bar is pooled over the baseline (total defective / total inspected, never a mean of daily ratios);
    limits are p-bar +/- 3 sqrt(p-bar (1 - p-bar) / n_i), the LCL clipped at 0 and the UCL at 1.
    """
    if baseline_inspected <= 0:
        raise ValueError("a p-chart baseline needs inspected units")
    p_bar = baseline_defective / baseline_inspected
    n = np.asarray(sample_size, dtype="float64")
    sigma = np.sqrt(p_bar * (1 - p_bar) / n)
    return p_bar, np.clip(p_bar - 3 * sigma, 0, 1), np.clip(p_bar + 3 * sigma, 0, 1)


def p_chart(defective: Any, sample_sizes: Any, baseline: Baseline = None) -> pd.DataFrame:
    """Fraction defective d_i / n_i against p-bar +/- 3 sqrt(p-bar (1 - p-bar) / n_i)."""
    d = np.asarray(defective, dtype="float64")
    n = np.broadcast_to(np.asarray(sample_sizes, dtype="float64"), d.shape)
    if (n <= 0).any():
        raise ValueError("every p-chart point needs a positive sample size")
    mask = baseline_mask(baseline, len(d))
    p_bar, lcl, ucl = p_chart_limits(d[mask].sum(), n[mask].sum(), n)
    return _chart(d / n, p_bar, np.sqrt(p_bar * (1 - p_bar) / n), lcl, ucl, _index_of(defective))


def np_chart(defective: Any, sample_size: float, baseline: Baseline = None) -> pd.DataFrame:
    """Defective count with a constant sample size n against n p-bar +/- 3 sqrt(n p-bar (1 - p-bar))."""
    d = np.asarray(defective, dtype="float64")
    if sample_size <= 0:
        raise ValueError("an np-chart needs a positive sample size")
    mask = baseline_mask(baseline, len(d))
    p_bar = d[mask].sum() / (sample_size * mask.sum())
    centre = sample_size * p_bar
    sigma = np.sqrt(centre * (1 - p_bar))
    return _chart(
        d, centre, sigma, max(centre - 3 * sigma, 0.0), min(centre + 3 * sigma, sample_size), _index_of(defective)
    )


def c_chart(counts: Any, baseline: Baseline = None) -> pd.DataFrame:
    """Defects per constant inspection unit against c-bar +/- 3 sqrt(c-bar)."""
    c = np.asarray(counts, dtype="float64")
    mask = baseline_mask(baseline, len(c))
    c_bar = c[mask].mean()
    sigma = np.sqrt(c_bar)
    return _chart(c, c_bar, sigma, max(c_bar - 3 * sigma, 0.0), c_bar + 3 * sigma, _index_of(counts))


def u_chart(defects: Any, units: Any, baseline: Baseline = None) -> pd.DataFrame:
    """Defects per unit c_i / n_i against the pooled u-bar +/- 3 sqrt(u-bar / n_i)."""
    c = np.asarray(defects, dtype="float64")
    n = np.broadcast_to(np.asarray(units, dtype="float64"), c.shape)
    if (n <= 0).any():
        raise ValueError("every u-chart point needs a positive number of units")
    mask = baseline_mask(baseline, len(c))
    u_bar = c[mask].sum() / n[mask].sum()
    sigma = np.sqrt(u_bar / n)
    return _chart(c / n, u_bar, sigma, np.clip(u_bar - 3 * sigma, 0, None), u_bar + 3 * sigma, _index_of(defects))


def xbar_r_chart(subgroups: Any, baseline: Baseline = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The X-bar chart (x-double-bar +/- A2 R-bar) and the R chart (D3 R-bar, R-bar, D4 R-bar) of equal subgroups.

    ``subgroups``: one row per subgroup, one column per measurement (2 to 10 per subgroup).
    """
    x = np.asarray(subgroups, dtype="float64")
    if x.ndim != 2 or x.shape[1] not in A2:
        raise ValueError(f"subgroups must be a table of 2 to 10 measurements per row, not shape {x.shape}")
    size = x.shape[1]
    mask = baseline_mask(baseline, len(x))
    means, ranges = x.mean(axis=1), x.max(axis=1) - x.min(axis=1)
    grand_mean, r_bar = means[mask].mean(), ranges[mask].mean()
    index = _index_of(subgroups)
    xbar = _chart(
        means,
        grand_mean,
        r_bar / (D2[size] * np.sqrt(size)),
        grand_mean - A2[size] * r_bar,
        grand_mean + A2[size] * r_bar,
        index,
    )
    r = _chart(ranges, r_bar, r_bar * (D4[size] - 1) / 3, D3[size] * r_bar, D4[size] * r_bar, index)
    return xbar, r


def imr_chart(values: Any, baseline: Baseline = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The individuals chart (x-bar +/- 3 MR-bar / 1.128; sigma MR-bar / 1.128) and the moving-range chart.

    3 / 1.128, not the rounded 2.66 (KPIS.md): the two differ in the fourth significant digit. A moving range is
    |x_i - x_(i-1)|; the first point has none (NaN, never out of control). MR-bar is the mean
    of the moving ranges between consecutive baseline points. The MR chart's limits are 0 and D4(2) MR-bar.
    """
    x = np.asarray(values, dtype="float64")
    mask = baseline_mask(baseline, len(x))
    moving = np.abs(np.diff(x, prepend=np.nan))
    pairs = mask & np.concatenate([[False], mask[:-1]])
    if not pairs.any():
        raise ValueError("an I-MR baseline needs two consecutive points")
    mr_bar, x_bar = moving[pairs].mean(), x[mask].mean()
    index = _index_of(values)
    sigma = mr_bar / D2[2]
    individuals = _chart(x, x_bar, sigma, x_bar - 3 * sigma, x_bar + 3 * sigma, index)
    ranges = _chart(moving, mr_bar, mr_bar * (D4[2] - 1) / 3, 0.0, D4[2] * mr_bar, index)
    return individuals, ranges


WESTERN_ELECTRIC_RULES = {
    "rule_1": "one point beyond 3 sigma",
    "rule_2": "two of three consecutive points beyond 2 sigma on the same side",
    "rule_3": "four of five consecutive points beyond 1 sigma on the same side",
    "rule_4": "eight consecutive points on the same side of the centre line",
}


def western_electric(values: Any, center: Any, sigma: Any, side: str = "both") -> pd.DataFrame:
    """One boolean column per Western Electric rule (``rule_1`` .. ``rule_4``), one row per point.

    ``center`` and ``sigma`` are numbers or one value per point (a p-chart's sigma varies with n). A point is
    flagged when it completes the pattern; for the "k of m" rules (2 and 3) the flagged point must itself lie
    beyond the zone, on the pattern's side, and the window must be full (no flag before the m-th point); in a run
    (rule 4) every point from the eighth on is flagged. "Beyond"
    is strict, and a point on the centre line breaks a run. Missing values never count and break runs.
    ``side`` ("above" or "below") keeps the patterns on that side only: a regression in one direction.
    """
    if side not in ("both", "above", "below"):
        raise ValueError(f"side must be both, above or below, not {side!r}")
    x = np.asarray(values, dtype="float64")
    deviation = x - np.broadcast_to(np.asarray(center, dtype="float64"), x.shape)
    s = np.broadcast_to(np.asarray(sigma, dtype="float64"), x.shape)
    with np.errstate(invalid="ignore"):
        above = {k: deviation > k * s for k in (0, 1, 2, 3)}
        below = {k: deviation < -k * s for k in (0, 1, 2, 3)}
    sides = [z for name, z in (("above", above), ("below", below)) if side in ("both", name)]
    rules = {
        "rule_1": np.logical_or.reduce([z[3] for z in sides]),
        "rule_2": np.logical_or.reduce([_k_of_m(z[2], 2, 3) for z in sides]),
        "rule_3": np.logical_or.reduce([_k_of_m(z[1], 4, 5) for z in sides]),
        "rule_4": np.logical_or.reduce([_run(z[0], 8) for z in sides]),
    }
    return pd.DataFrame(rules, index=_index_of(values))


def _k_of_m(beyond: np.ndarray, k: int, m: int) -> np.ndarray:
    """Points beyond the zone that complete k of the last m points (this one included) beyond it. The window must
    be full (KPIS.md): nothing is flagged before the m-th point of the series."""
    count = pd.Series(beyond.astype("int64")).rolling(m, min_periods=m).sum().to_numpy()
    return beyond & (count >= k)


def _run(side: np.ndarray, length: int) -> np.ndarray:
    """Points that are the ``length``-th or later of consecutive points on one side."""
    # Each point off the side starts a new group; the running count within a group is the streak.
    streak = pd.Series(side.astype("int64")).groupby(np.cumsum(~side)).cumsum().to_numpy()
    return streak >= length


def rule_1_beyond_limits(values: Any, lower: Any, upper: Any) -> Any:
    """Western Electric rule 1 on given limits: a point strictly beyond a 3-sigma limit (on a limit is in control)."""
    v = np.asarray(values, dtype="float64")
    return (v > np.asarray(upper)) | (v < np.asarray(lower))
