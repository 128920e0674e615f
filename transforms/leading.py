"""Training as a leading indicator (KPIS.md, Cross-source), pure: does a line's outcome follow its training, and when?

For one line's daily leading series (training compliance) and outcome series (FPY, fraction defective), every lag
of 0..``max_lag_days`` calendar days pairs the leading value ``lag`` days before each outcome day with that day's
outcome, and Pearson's r of the pairs measures how closely the outcome followed. The lag kept is the one with the
strongest relation in the expected direction (``direction`` +1: the outcome falls when the leading series fell, as
yield does; -1: it rises, as the fraction defective does).

The significance is deliberately conservative, because both series are autocorrelated (compliance is a stock that
moves a person at a time; a yield shift lasts days), and autocorrelated series show large correlations by chance:
the naive test of r with n pairs would call most of them significant. So

- each lag's test uses the effective number of independent pairs, ``n_eff = n (1 - a b) / (1 + a b)`` with ``a``
  and ``b`` the lag-1 autocorrelations of the two paired series (Bretherton et al. 1999, J. Climate 12, eq. 31;
  negative autocorrelations count as 0, never as more information), in a one-sided t-test with ``n_eff - 2``
  degrees of freedom;
- the p-value of the lag kept is multiplied by the number of lags tried (Bonferroni): picking the best of 29 lags
  would otherwise find a "relation" in noise one time in two.

Both corrections err toward saying nothing: a relation this reports rests on a co-movement well beyond chance. And
a correlation of a near-constant series rests on its few days away from its usual level (a stock like compliance
is flat most of the time): one such day paired with one noisy outcome day is leverage, not evidence. So a lag
counts only when at least ``min_contrast_pairs`` of its pairs have the leading value more than 1.5 standard
deviations from its mean: a whole earlier episode, not the first day of the current one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MAX_LAG_DAYS = 28
MIN_PAIRS = 20  # fewer outcome days paired with a leading value: no relation is estimated
MIN_CONTRAST_PAIRS = 5  # pairs whose leading value is well away from its usual level (see the module docstring)
CONTRAST_SD = 1.5


@dataclass(frozen=True)
class LaggedRelation:
    """The lag at which the outcome follows the leading series most closely, and how closely."""

    lag_days: int
    correlation: float  # Pearson's r at that lag (its sign is the relation's: positive for compliance and FPY)
    p_value: float  # one-sided, on the effective number of pairs, Bonferroni-adjusted for the lags tried
    n: int  # the pairs at that lag
    n_effective: float  # the pairs' worth of independent information (autocorrelation discounted)

    def established(self, min_correlation: float, max_p_value: float) -> bool:
        """Strong enough (``|r| >= min_correlation``) and beyond chance (``p <= max_p_value``)."""
        return abs(self.correlation) >= min_correlation and self.p_value <= max_p_value


def lagged_relation(
    leading: pd.Series,
    outcome: pd.Series,
    max_lag_days: int = MAX_LAG_DAYS,
    direction: int = 1,
    min_pairs: int = MIN_PAIRS,
    min_contrast_pairs: int = MIN_CONTRAST_PAIRS,
) -> LaggedRelation | None:
    """The strongest relation of ``outcome`` to ``leading`` over lags 0..``max_lag_days`` in ``direction``.

    Both series are indexed by day (dates or timestamps; gaps, such as days without production, are allowed). None
    when no lag has ``min_pairs`` pairs with spread on both sides and ``min_contrast_pairs`` of them away from the
    leading series' usual level, or when no lag relates in ``direction``.
    """
    if max_lag_days < 0:
        raise ValueError("max_lag_days must be 0 or more")
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    lead = _daily(leading)
    out = _daily(outcome)
    if lead.empty or out.empty:
        return None
    best: LaggedRelation | None = None
    lags = max_lag_days + 1
    for lag in range(lags):
        before = lead.reindex(out.index - pd.Timedelta(days=lag)).to_numpy()
        paired = ~np.isnan(before) & ~np.isnan(out.to_numpy())
        x, y = before[paired], out.to_numpy()[paired]
        if len(x) < min_pairs or np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        if np.count_nonzero(np.abs(x - x.mean()) > CONTRAST_SD * x.std()) < min_contrast_pairs:
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        if not np.isfinite(r) or direction * r <= 0:
            continue
        if best is not None and direction * r <= direction * best.correlation:
            continue
        n_eff = effective_pairs(x, y)
        best = LaggedRelation(lag, r, _one_sided_p(direction * r, n_eff), len(x), n_eff)
    if best is None:
        return None
    return LaggedRelation(best.lag_days, best.correlation, min(1.0, best.p_value * lags), best.n, best.n_effective)


def effective_pairs(x: np.ndarray, y: np.ndarray) -> float:
    """Bretherton et al.'s effective sample size of a correlation between two autocorrelated series."""
    a, b = max(_lag1(x), 0.0), max(_lag1(y), 0.0)
    return float(len(x) * (1 - a * b) / (1 + a * b))


def _lag1(values: np.ndarray) -> float:
    if len(values) < 3 or np.ptp(values[:-1]) == 0 or np.ptp(values[1:]) == 0:
        return 0.0
    return float(np.corrcoef(values[:-1], values[1:])[0, 1])


def _one_sided_p(r: float, n_eff: float) -> float:
    """P(r this large or larger | no relation), from the t distribution with ``n_eff - 2`` degrees of freedom."""
    df = n_eff - 2
    if df <= 0:
        return 1.0
    if r >= 1:
        return 0.0
    t = r * np.sqrt(df / (1 - r * r))
    return float(stats.t.sf(t, df))


def _daily(series: pd.Series) -> pd.Series:
    """The series on a datetime index, one value a day, unknown values dropped."""
    values = pd.Series(pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64"), index=series.index)
    values.index = pd.to_datetime(values.index)
    values = values.dropna()
    return values.groupby(level=0).mean().sort_index()
