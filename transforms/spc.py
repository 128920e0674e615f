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
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy import stats

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


def _chart(
    value: Any, cl: Any, sigma: Any, lcl: Any, ucl: Any, index: Any = None, out_of_control: Any = None, **extra: Any
) -> pd.DataFrame:
    """One row per point: ``value``, ``cl``, ``ucl``, ``lcl``, ``sigma``, ``out_of_control`` (strictly beyond a limit
    unless given), then the chart's ``extra`` columns. Built in one step: charts are drawn once per judged day."""
    shape = np.shape(value)
    columns: dict[str, Any] = {"value": np.asarray(value, dtype="float64")}
    for name, column in (("cl", cl), ("ucl", ucl), ("lcl", lcl), ("sigma", sigma)):
        columns[name] = np.broadcast_to(np.asarray(column, dtype="float64"), shape)
    if out_of_control is None:
        out_of_control = (columns["value"] > columns["ucl"]) | (columns["value"] < columns["lcl"])
    columns["out_of_control"] = np.asarray(out_of_control, dtype=bool)
    columns.update({name: np.broadcast_to(np.asarray(column), shape) for name, column in extra.items()})
    return pd.DataFrame(columns, index=index)


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
    if not len(beyond):
        return beyond
    count = np.convolve(beyond.astype("int64"), np.ones(m, dtype="int64"))[: len(beyond)]
    count[: m - 1] = 0
    return beyond & (count >= k)


def _run(side: np.ndarray, length: int) -> np.ndarray:
    """Points that are the ``length``-th or later of consecutive points on one side."""
    # The streak at a point is its distance from the last point off the side (-1 before the series).
    position = np.arange(len(side))
    last_off = np.maximum.accumulate(np.where(side, -1, position)) if len(side) else position
    return position - last_off >= length


def rule_1_beyond_limits(values: Any, lower: Any, upper: Any) -> Any:
    """Western Electric rule 1 on given limits: a point strictly beyond a 3-sigma limit (on a limit is in control)."""
    v = np.asarray(values, dtype="float64")
    return (v > np.asarray(upper)) | (v < np.asarray(lower))


# Laney's p' and u' charts, EWMA and CUSUM, capability, before/after tests and the Nelson rules. Same conventions as
# above: one row per point, limits from the baseline (phase I) applied to every point, "beyond" strict.


def _moving_range_sigma(values: np.ndarray, mask: np.ndarray, what: str) -> float:
    """MR-bar / d2(2) of the moving ranges between consecutive baseline points (missing values skipped)."""
    pairs = mask & np.concatenate([[False], mask[:-1]])
    moving = np.abs(np.diff(values, prepend=np.nan))
    usable = pairs & np.isfinite(moving)
    if not usable.any():
        raise ValueError(f"{what} needs two consecutive baseline points for a moving range")
    return float(moving[usable].mean() / D2[2])


def _counts_and_sizes(counts: Any, sizes: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(counts, dtype="float64")
    n = np.broadcast_to(np.asarray(sizes, dtype="float64"), c.shape)
    if c.ndim != 1 or not len(c):
        raise ValueError(f"{what} needs a sequence of counts, not shape {c.shape}")
    if not (n > 0).all():
        raise ValueError(f"every {what} point needs a positive sample size")
    if (c < 0).any():
        raise ValueError(f"{what} counts cannot be negative")
    return c, n


@dataclass(frozen=True)
class _Standardized:
    """Counts over sizes standardized by the binomial (``kind`` "p") or Poisson ("u") sigma at the baseline's
    pooled centre: z_i = (ratio_i - centre) / sigma_i. What Laney's charts and the dispersion test share."""

    ratio: np.ndarray
    centre: float
    sigma_i: np.ndarray
    z: np.ndarray
    mask: np.ndarray


def _standardized(counts: Any, sizes: Any, baseline: Baseline, kind: str) -> _Standardized:
    what = "p' chart" if kind == "p" else "u' chart"
    c, n = _counts_and_sizes(counts, sizes, what)
    mask = baseline_mask(baseline, len(c))
    centre = float(c[mask].sum() / n[mask].sum())
    if kind == "p":
        if not 0 < centre < 1:
            raise ValueError(f"a p' chart needs a baseline p-bar strictly between 0 and 1, not {centre}")
        sigma_i = np.sqrt(centre * (1 - centre) / n)
    else:
        if not centre > 0:
            raise ValueError("a u' chart needs a baseline with at least one defect")
        sigma_i = np.sqrt(centre / n)
    ratio = c / n
    return _Standardized(ratio, centre, sigma_i, (ratio - centre) / sigma_i, mask)


def _laney(counts: Any, sizes: Any, baseline: Baseline, kind: str, sigma_z: float | None) -> pd.DataFrame:
    std = _standardized(counts, sizes, baseline, kind)
    if sigma_z is None:
        sigma_z = _moving_range_sigma(std.z, std.mask, "a Laney chart")
    elif not sigma_z > 0:
        raise ValueError(f"sigma_z must be positive, not {sigma_z}")
    sigma = std.sigma_i * sigma_z
    cap = 1.0 if kind == "p" else None
    return _chart(
        std.ratio,
        std.centre,
        sigma,
        np.clip(std.centre - 3 * sigma, 0, None),
        np.clip(std.centre + 3 * sigma, None, cap),
        _index_of(counts),
        z=std.z,
        sigma_z=sigma_z,
    )


def laney_p_chart(
    defective: Any, inspected: Any, baseline: Baseline = None, sigma_z: float | None = None
) -> pd.DataFrame:
    """Laney's p' chart (Quality Engineering 14(4), 2002) for fractions defective that vary more than binomially.

    p-bar is pooled over the baseline; sigma_p_i = sqrt(p-bar (1 - p-bar) / n_i); z_i = (p_i - p-bar) / sigma_p_i;
    sigma_z = MR-bar / 1.128 of the z's of consecutive baseline points. Limits p-bar +/- 3 sigma_p_i sigma_z, the LCL
    clipped at 0 and the UCL at 1; ``sigma`` is sigma_p_i sigma_z; extra columns ``z`` and ``sigma_z``. With
    sigma_z = 1 it is the p-chart. A given ``sigma_z`` (estimated over a longer history, say) is used as it is.
    """
    return _laney(defective, inspected, baseline, "p", sigma_z)


def laney_u_chart(defects: Any, units: Any, baseline: Baseline = None, sigma_z: float | None = None) -> pd.DataFrame:
    """Laney's u' chart: the p' construction with sigma_u_i = sqrt(u-bar / n_i), u-bar pooled; LCL clipped at 0."""
    return _laney(defects, units, baseline, "u", sigma_z)


# The normal tail beyond 3 sigma, one side: what a 3-sigma limit promises.
THREE_SIGMA_TAIL = float(stats.norm.sf(3.0))


def _probability_chart(
    counts: np.ndarray, sizes: np.ndarray, distribution: Any, shape: tuple[Any, ...], centre: float, index: Any
) -> pd.DataFrame:
    # The distribution is called with its shape parameters, not frozen: freezing builds a distribution per call, and
    # a rule draws this chart once per judged day.
    ratio = counts / sizes
    x = np.rint(counts)
    # Each point's tail probability under the model, as a normal score: above the centre the chance of a count at
    # least this high, below it of one at most this low. The run rules read it on a chart with centre 0 and sigma 1.
    upper = stats.norm.isf(np.clip(distribution.sf(x - 1, *shape), 1e-300, 1.0))
    lower = stats.norm.ppf(np.clip(distribution.cdf(x, *shape), 1e-300, 1.0))
    score = np.where(upper > 0, upper, np.where(lower < 0, lower, 0.0))
    ucl = distribution.isf(THREE_SIGMA_TAIL, *shape) / sizes
    lcl = distribution.ppf(THREE_SIGMA_TAIL, *shape) / sizes
    sigma = np.sqrt(distribution.var(*shape)) / sizes
    # Strictly beyond a limit is the same as a tail probability under 3 sigma's: the limits are attainable counts.
    return _chart(
        ratio, centre, sigma, lcl, ucl, index, out_of_control=(ratio > ucl) | (ratio < lcl), normal_score=score
    )


def probability_p_chart(defective: Any, inspected: Any, baseline: Baseline = None) -> pd.DataFrame:
    """The p-chart with probability limits (Montgomery, Introduction to SQC, 7.2.2): the binomial distribution's own
    0.135% tails at p-bar and n_i instead of p-bar +/- 3 sigma.

    At the few defectives a day a step sees (n p-bar under about 20) the binomial is skewed, and the 3-sigma UCL
    is crossed two to four times as often as it promises. ``ucl`` is the largest attainable fraction inside the upper
    tail, ``lcl`` likewise; ``normal_score`` is each point's tail probability as a normal quantile (Quesenberry's Q
    statistic), for the run rules at centre 0 and sigma 1. ``sigma`` is the binomial sigma, for reference.
    """
    d, n = _counts_and_sizes(defective, inspected, "p-chart")
    mask = baseline_mask(baseline, len(d))
    p_bar = float(d[mask].sum() / n[mask].sum())
    shape = (np.rint(n).astype("int64"), p_bar)
    return _probability_chart(d, n, stats.binom, shape, p_bar, _index_of(defective))


def probability_u_chart(defects: Any, units: Any, baseline: Baseline = None) -> pd.DataFrame:
    """The u-chart with probability limits: Poisson tails at u-bar n_i (as ``probability_p_chart``)."""
    c, n = _counts_and_sizes(defects, units, "u-chart")
    mask = baseline_mask(baseline, len(c))
    u_bar = float(c[mask].sum() / n[mask].sum())
    return _probability_chart(c, n, stats.poisson, (u_bar * n,), u_bar, _index_of(defects))


@dataclass(frozen=True)
class Dispersion:
    """The answer of ``overdispersion``: whether the p (u) chart's binomial (Poisson) sigma fits the baseline."""

    sigma_z: float
    chi_square: float
    df: int
    p_value: float
    needs_laney: bool
    reason: str


DISPERSION_ALPHA = 0.01


def overdispersion(defective_or_defects: Any, sizes: Any, kind: str = "p", baseline: Baseline = None) -> Dispersion:
    """Whether the baseline varies more (or less) than the binomial (``kind`` "p") or Poisson ("u") model allows.

    ``sigma_z`` (Laney's MR-bar / 1.128 of the z-scores) is the ratio of observed to model variation, 1 when the
    model fits. The decision is Pearson's dispersion test: the sum of the baseline's z_i^2 against chi-square with
    m - 1 degrees of freedom, two-sided at ``DISPERSION_ALPHA`` (0.01); p' (u') is needed when it rejects and sigma_z
    lies on the same side of 1. ``reason`` says why in plain words.
    """
    # Why this threshold: under the model the sum of squared z's is chi-square on m - 1 df (the test of homogeneity of
    # m proportions or rates), so on a truly binomial (Poisson) baseline the check calls for p' once in 100, whatever
    # m and the subgroup sizes; a fixed bound on sigma_z would not tighten as the baseline grows. sigma_z must agree
    # in direction because a sustained shift inflates the chi-square but not the point-to-point spread: that is a
    # special cause for the p-chart to show, not common-cause variation for p' to absorb.
    if kind not in ("p", "u"):
        raise ValueError(f"kind must be p or u, not {kind!r}")
    std = _standardized(defective_or_defects, sizes, baseline, kind)
    sigma_z = _moving_range_sigma(std.z, std.mask, "a Laney chart")
    z = std.z[std.mask]
    z = z[np.isfinite(z)]
    df = len(z) - 1
    if df < 1:
        raise ValueError("the dispersion test needs at least two baseline points")
    chi_square = float((z**2).sum())
    p_value = float(min(1.0, 2 * min(stats.chi2.sf(chi_square, df), stats.chi2.cdf(chi_square, df))))
    model, laney, plain = ("binomial", "p' chart", "p-chart") if kind == "p" else ("Poisson", "u' chart", "u-chart")
    test = f"chi-square {chi_square:.1f} on {df} df, p = {p_value:.2g}"
    significant = p_value < DISPERSION_ALPHA
    over, under = significant and chi_square > df and sigma_z > 1, significant and chi_square < df and sigma_z < 1
    if over:
        reason = f"overdispersed: the points vary {sigma_z:.2f} times as much as the {model} model allows ({test}); "
        reason += f"use the {laney}, the {plain}'s limits are too narrow"
    elif under:
        reason = f"underdispersed: the points vary {sigma_z:.2f} times as much as the {model} model allows ({test}); "
        reason += f"use the {laney}, the {plain}'s limits are too wide"
    elif significant:
        reason = f"the spread beyond the {model} model comes from shifts between stretches, not from point-to-point "
        reason += f"variation (sigma_z {sigma_z:.2f}, {test}); keep the {plain} and look for the special cause"
    else:
        reason = f"consistent with the {model} model (sigma_z {sigma_z:.2f}, {test}); the {plain} is right"
    return Dispersion(sigma_z, chi_square, df, p_value, over or under, reason)


def _target_and_sigma(
    x: np.ndarray, target: float | None, sigma: float | None, baseline: Baseline, what: str
) -> tuple[float, float]:
    """The given target and sigma, or the baseline's mean and MR-bar / 1.128."""
    mask = baseline_mask(baseline, len(x))
    if target is None:
        observed = x[mask][np.isfinite(x[mask])]
        if not len(observed):
            raise ValueError(f"{what} baseline holds no observation")
        target = float(observed.mean())
    if sigma is None:
        sigma = _moving_range_sigma(x, mask, what)
    if not sigma > 0:
        raise ValueError(f"{what} needs a positive sigma, not {sigma}")
    return float(target), float(sigma)


def ewma_chart(
    values: Any,
    lam: float = 0.2,
    L: float = 3.0,
    target: float | None = None,
    sigma: float | None = None,
    baseline: Baseline = None,
) -> pd.DataFrame:
    """EWMA chart: z_i = lam x_i + (1 - lam) z_(i-1), z_0 = target, against the exact time-varying limits
    target +/- L sigma sqrt(lam / (2 - lam) (1 - (1 - lam)^(2i))).

    ``value`` and ``ewma`` are z_i, ``observation`` is x_i, ``sigma`` the standard deviation of z_i. ``target`` and
    ``sigma`` default to the baseline's mean and MR-bar / 1.128. A missing observation holds the EWMA and does not
    advance i; its row is NaN and never out of control.
    """
    if not 0 < lam <= 1:
        raise ValueError(f"lam must be in (0, 1], not {lam}")
    if not L > 0:
        raise ValueError(f"L must be positive, not {L}")
    x = np.asarray(values, dtype="float64")
    centre, s = _target_and_sigma(x, target, sigma, baseline, "an EWMA chart")
    z, steps = np.full(x.shape, np.nan), np.zeros(x.shape)
    current, i = centre, 0
    for j, observation in enumerate(x):
        if not np.isnan(observation):
            i += 1
            current = lam * observation + (1 - lam) * current
            z[j] = current
        steps[j] = i
    spread = s * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * steps)))
    return _chart(z, centre, spread, centre - L * spread, centre + L * spread, _index_of(values), ewma=z, observation=x)


def cusum_chart(
    values: Any,
    k: float = 0.5,
    h: float = 5.0,
    target: float | None = None,
    sigma: float | None = None,
    baseline: Baseline = None,
) -> pd.DataFrame:
    """Montgomery's tabular CUSUM, K = k sigma and H = h sigma: C+_i = max(0, x_i - (target + K) + C+_(i-1)),
    C-_i = max(0, (target - K) - x_i + C-_(i-1)), both starting at 0 and not reset after a signal.

    ``signal_upper`` is C+ > H, ``signal_lower`` C- > H, ``out_of_control`` either. The chart plots C+ against ``ucl``
    = H and -C- against ``lcl`` = -H: ``value`` is C+ or -C-, whichever is further from 0, so it is beyond a limit
    exactly when a sum signals; ``cl`` is 0 and ``sigma`` the process sigma. ``observation`` is x_i. ``target`` and
    ``sigma`` default to the baseline's mean and MR-bar / 1.128. A missing observation carries both sums over; its
    row is NaN and never signals.
    """
    if not k >= 0:
        raise ValueError(f"k must be 0 or more, not {k}")
    if not h > 0:
        raise ValueError(f"h must be positive, not {h}")
    x = np.asarray(values, dtype="float64")
    centre, s = _target_and_sigma(x, target, sigma, baseline, "a CUSUM chart")
    allowance, interval = k * s, h * s
    upper, lower = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    c_plus = c_minus = 0.0
    for j, observation in enumerate(x):
        if not np.isnan(observation):
            c_plus = max(0.0, observation - (centre + allowance) + c_plus)
            c_minus = max(0.0, (centre - allowance) - observation + c_minus)
            upper[j], lower[j] = c_plus, c_minus
    value = np.where(upper >= lower, upper, -lower)
    signal_upper, signal_lower = upper > interval, lower > interval
    return _chart(
        value,
        0.0,
        s,
        -interval,
        interval,
        _index_of(values),
        out_of_control=signal_upper | signal_lower,
        c_plus=upper,
        c_minus=lower,
        signal_upper=signal_upper,
        signal_lower=signal_lower,
        observation=x,
    )


@dataclass(frozen=True)
class Capability:
    """The answer of ``capability``; NaN for an index that needs a missing specification limit."""

    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float
    cpl: float
    cpu: float
    cpk: float
    cpm: float
    pp: float
    ppl: float
    ppu: float
    ppk: float


def capability(
    values: Any, lsl: float | None, usl: float | None, subgroup_size: int = 1, target: float | None = None
) -> Capability:
    """Cp, Cpk, Cpm (within sigma) and Pp, Ppk (overall sigma), returned as a ``Capability`` dataclass.

    sigma_within is R-bar / d2 of consecutive subgroups of ``subgroup_size`` (2 to 10), or MR-bar / 1.128 for
    individuals; sigma_overall is the sample standard deviation (ddof 1) of every value. ``values``: a flat sequence
    (cut into consecutive subgroups) or a table of one row per subgroup. Cp = (USL - LSL) / 6 sigma_within,
    Cpl = (mean - LSL) / 3 sigma_within, Cpu = (USL - mean) / 3 sigma_within, Cpk = min(Cpl, Cpu) (the given side for
    a one-sided spec), Cpm = (USL - LSL) / (6 sqrt(sigma_within^2 + (mean - target)^2)) with ``target`` by default
    the spec midpoint; Pp, Ppl, Ppu and Ppk likewise with sigma_overall. An index that needs a missing limit is NaN.
    """
    if lsl is None and usl is None:
        raise ValueError("capability needs at least one specification limit")
    if lsl is not None and usl is not None and not lsl < usl:
        raise ValueError(f"the lower specification limit must be below the upper, not {lsl} and {usl}")
    if subgroup_size != 1 and subgroup_size not in D2:
        raise ValueError(f"subgroup_size must be 1 or 2 to 10, not {subgroup_size}")
    x = np.asarray(values, dtype="float64")
    if x.ndim == 2 and x.shape[1] != subgroup_size:
        raise ValueError(f"a table of subgroups needs {subgroup_size} columns, not {x.shape[1]}")
    x = x.ravel()
    if len(x) < 2 or len(x) % subgroup_size:
        raise ValueError(f"capability needs at least two values cut into whole subgroups of {subgroup_size}")
    if not np.isfinite(x).all():
        raise ValueError("capability values must be finite numbers")
    if subgroup_size == 1:
        within = float(np.abs(np.diff(x)).mean() / D2[2])
    else:
        groups = x.reshape(-1, subgroup_size)
        within = float((groups.max(axis=1) - groups.min(axis=1)).mean() / D2[subgroup_size])
    mean, overall = float(x.mean()), float(x.std(ddof=1))
    if not (within > 0 and overall > 0):
        raise ValueError("capability needs values that vary (a sigma of 0)")
    nan = float("nan")

    def indices(sigma: float) -> tuple[float, float, float, float]:
        lower = (mean - lsl) / (3 * sigma) if lsl is not None else nan
        upper = (usl - mean) / (3 * sigma) if usl is not None else nan
        both = (usl - lsl) / (6 * sigma) if lsl is not None and usl is not None else nan
        return both, lower, upper, float(np.nanmin([lower, upper]))

    cp, cpl, cpu, cpk = indices(within)
    pp, ppl, ppu, ppk = indices(overall)
    if target is None and lsl is not None and usl is not None:
        target = (lsl + usl) / 2
    cpm = nan
    if lsl is not None and usl is not None and target is not None:
        cpm = (usl - lsl) / (6 * float(np.sqrt(within**2 + (mean - target) ** 2)))
    return Capability(mean, within, overall, cp, cpl, cpu, cpk, cpm, pp, ppl, ppu, ppk)


@dataclass(frozen=True)
class ZTest:
    """A two-sample z-test of after minus before: the difference, z, two-sided p-value, 95% Wald interval."""

    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class WelchTest:
    """Welch's t-test of mean(after) - mean(before): t, Welch-Satterthwaite df, two-sided p-value, 95% interval."""

    difference: float
    t: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float


Z_95 = float(stats.norm.ppf(0.975))


def _z_test(difference: float, null_se: float, se: float) -> ZTest:
    z = difference / null_se if null_se > 0 else 0.0
    return ZTest(difference, z, float(2 * stats.norm.sf(abs(z))), difference - Z_95 * se, difference + Z_95 * se)


def _check_count(count: float, size: float, label: str, bounded: bool) -> None:
    if not (np.isfinite(size) and size > 0):
        raise ValueError(f"{label}: the sample size (or exposure) must be a positive number, not {size}")
    if not (np.isfinite(count) and count >= 0 and (count <= size or not bounded)):
        limit = f"between 0 and {size}" if bounded else "0 or more"
        raise ValueError(f"{label}: the count must be {limit}, not {count}")


def compare_proportions(x_before: float, n_before: float, x_after: float, n_after: float) -> ZTest:
    """Pooled two-proportion z-test of p_after - p_before (x defectives out of n).

    z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled p = (x_a + x_b) / (n_a + n_b); two-sided
    p-value. The 95% interval is the unpooled Wald interval p_a - p_b +/- 1.96 sqrt(p_a q_a / n_a + p_b q_b / n_b).
    """
    _check_count(x_before, n_before, "before", bounded=True)
    _check_count(x_after, n_after, "after", bounded=True)
    p_b, p_a = x_before / n_before, x_after / n_after
    pooled = (x_before + x_after) / (n_before + n_after)
    null_se = float(np.sqrt(pooled * (1 - pooled) * (1 / n_before + 1 / n_after)))
    se = float(np.sqrt(p_a * (1 - p_a) / n_after + p_b * (1 - p_b) / n_before))
    return _z_test(p_a - p_b, null_se, se)


def compare_rates(x_before: float, t_before: float, x_after: float, t_after: float) -> ZTest:
    """Pooled two-sample Poisson z-test of the rate after minus before (x events in exposure t, e.g. units).

    z = (r_a - r_b) / sqrt(r (1/t_a + 1/t_b)) with the pooled rate r = (x_a + x_b) / (t_a + t_b); two-sided p-value.
    The 95% interval is the unpooled Wald interval r_a - r_b +/- 1.96 sqrt(x_a / t_a^2 + x_b / t_b^2).
    """
    _check_count(x_before, t_before, "before", bounded=False)
    _check_count(x_after, t_after, "after", bounded=False)
    pooled = (x_before + x_after) / (t_before + t_after)
    null_se = float(np.sqrt(pooled * (1 / t_before + 1 / t_after)))
    se = float(np.sqrt(x_after / t_after**2 + x_before / t_before**2))
    return _z_test(x_after / t_after - x_before / t_before, null_se, se)


def compare_means(before: Any, after: Any) -> WelchTest:
    """Welch's unequal-variance t-test of mean(after) - mean(before) for a continuous KPI; missing values dropped.

    t = d / sqrt(s_a^2 / n_a + s_b^2 / n_b); df by Welch-Satterthwaite; two-sided p-value; 95% interval
    d +/- t(0.975, df) sqrt(s_a^2 / n_a + s_b^2 / n_b).
    """
    samples = []
    for label, data in (("before", before), ("after", after)):
        x = np.asarray(data, dtype="float64").ravel()
        x = x[~np.isnan(x)]
        if len(x) < 2:
            raise ValueError(f"compare_means needs at least two values {label}, not {len(x)}")
        if not np.isfinite(x).all():
            raise ValueError(f"compare_means values {label} must be finite numbers")
        samples.append(x)
    b, a = samples
    var_b, var_a = b.var(ddof=1) / len(b), a.var(ddof=1) / len(a)
    se = float(np.sqrt(var_a + var_b))
    if not se > 0:
        raise ValueError("both samples are constant: Welch's t-test is undefined")
    difference = float(a.mean() - b.mean())
    t = difference / se
    df = float((var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1)))
    half = float(stats.t.ppf(0.975, df)) * se
    return WelchTest(difference, t, df, float(2 * stats.t.sf(abs(t), df)), difference - half, difference + half)


NELSON_RULES = {
    "nelson_1": "one point beyond 3 sigma",
    "nelson_2": "nine points in a row on the same side of the centre line",
    "nelson_3": "six points in a row steadily increasing or steadily decreasing",
    "nelson_4": "fourteen points in a row alternating up and down",
    "nelson_5": "two of three consecutive points beyond 2 sigma on the same side",
    "nelson_6": "four of five consecutive points beyond 1 sigma on the same side",
    "nelson_7": "fifteen points in a row within 1 sigma of the centre line, either side",
    "nelson_8": "eight points in a row beyond 1 sigma, either side (none within 1 sigma)",
}


# Where each run rule draws its zone, in sigmas from the centre line (0: the centre line itself; Nelson 3 and 4 count
# rises and falls, and are read against the centre line too). What an alert states its value against.
RUN_RULE_SIGMAS = {
    "rule_1": 3, "rule_2": 2, "rule_3": 1, "rule_4": 0,
    "nelson_1": 3, "nelson_2": 0, "nelson_3": 0, "nelson_4": 0,
    "nelson_5": 2, "nelson_6": 1, "nelson_7": 1, "nelson_8": 1,
}  # fmt: skip


def probability_line(kind: str, centre: float, size: float, sigmas: float, above: bool) -> float:
    """The fraction (``kind`` "p") or rate ("u") a point of a probability chart must lie strictly beyond to score more
    than ``sigmas`` from 0 (``probability_p_chart``): the ``sigmas`` line, in the chart's own unit, at sample size
    ``size``. With 3 it is the chart's UCL (LCL), and a point scores beyond when its fraction is beyond the line."""
    if kind not in ("p", "u"):
        raise ValueError(f"kind must be p or u, not {kind!r}")
    tail = float(stats.norm.sf(sigmas))
    distribution, shape = (stats.binom, (round(size), centre)) if kind == "p" else (stats.poisson, (centre * size,))
    count = distribution.isf(tail, *shape) if above else distribution.ppf(tail, *shape)
    return float(count / size)


def nelson(values: Any, center: Any, sigma: Any, side: str = "both") -> pd.DataFrame:
    """One boolean column per Nelson (1984) rule (``nelson_1`` .. ``nelson_8``), one row per point.

    The conventions of ``western_electric``: ``center`` and ``sigma`` are numbers or one value per point; "beyond" is
    strict, so a point exactly 1 sigma out is within 1 sigma; a k-of-m rule (5, 6) flags a point beyond the zone that
    completes the pattern, once the window is full; in a run (2, 3, 4, 7, 8) every point from the run's k-th on is
    flagged. Runs count points, not steps: six rising points are five rises, fourteen alternating points thirteen
    steps. Equal neighbours break a trend or an alternation, a point on the centre line breaks rule 2, and missing
    values never count and break runs. ``side`` ("above", "below") keeps rules 1, 2, 5 and 6 to that side and rule 3
    to rising (above) or falling (below) trends; rules 4, 7 and 8 have no direction and apply whatever ``side``.
    """
    if side not in ("both", "above", "below"):
        raise ValueError(f"side must be both, above or below, not {side!r}")
    x = np.asarray(values, dtype="float64")
    deviation = x - np.broadcast_to(np.asarray(center, dtype="float64"), x.shape)
    s = np.broadcast_to(np.asarray(sigma, dtype="float64"), x.shape)
    with np.errstate(invalid="ignore"):
        above = {k: deviation > k * s for k in (0, 1, 2, 3)}
        below = {k: deviation < -k * s for k in (0, 1, 2, 3)}
        within = np.abs(deviation) <= s
        step = np.diff(x, prepend=np.nan)
        rising, falling = step > 0, step < 0
    sides = [z for name, z in (("above", above), ("below", below)) if side in ("both", name)]
    trends = [t for name, t in (("above", rising), ("below", falling)) if side in ("both", name)]
    # A point alternates when its step and the one before are both non-zero and of opposite signs; thirteen
    # alternating steps are twelve alternating points in a row.
    alternating = np.concatenate([[False], (rising[1:] & falling[:-1]) | (falling[1:] & rising[:-1])])
    rules = {
        "nelson_1": np.logical_or.reduce([z[3] for z in sides]),
        "nelson_2": np.logical_or.reduce([_run(z[0], 9) for z in sides]),
        "nelson_3": np.logical_or.reduce([_run(t, 5) for t in trends]),
        "nelson_4": _run(alternating, 12),
        "nelson_5": np.logical_or.reduce([_k_of_m(z[2], 2, 3) for z in sides]),
        "nelson_6": np.logical_or.reduce([_k_of_m(z[1], 4, 5) for z in sides]),
        "nelson_7": _run(within, 15),
        "nelson_8": _run(above[1] | below[1], 8),
    }
    return pd.DataFrame(rules, index=_index_of(values))
