"""The KPI formulas of ``KPIS.md`` as a small public library, usable from the pipeline and from a notebook.

Each function takes numbers or array-likes (numpy arrays, pandas Series) and returns the same shape. Ratios are
fractions 0..1; NPS is on its own -100..100 scale. A ratio whose denominator is zero is NaN (stored as NULL).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

SIGMA_SHIFT = 1.5  # the conventional long-term shift of short-term sigma


def ratio(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, NaN where the denominator is zero; keeps a Series a Series."""
    num = np.asarray(numerator, dtype="float64")
    den = np.asarray(denominator, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den == 0, np.nan, num / np.where(den == 0, 1.0, den))
    return _like(out, numerator, denominator)


def _like(values: np.ndarray, *inputs: Any) -> Any:
    for item in inputs:
        if isinstance(item, pd.Series):
            return pd.Series(values, index=item.index)
    return float(values) if values.ndim == 0 else values


def fpy(first_pass_good: Any, entered: Any) -> Any:
    """First Pass Yield = units passing a step the first time (no rework, no scrap) / units entering it."""
    return ratio(first_pass_good, entered)


def fraction_defective(defective: Any, inspected: Any) -> Any:
    """p = defective units / inspected units."""
    return ratio(defective, inspected)


def dpu(defects: Any, units_inspected: Any) -> Any:
    """Defects per unit = defects / units inspected (a unit can carry several defects)."""
    return ratio(defects, units_inspected)


def dpmo(defects: Any, units: Any, opportunities_per_unit: Any) -> Any:
    """DPMO = defects / (units inspected x opportunities per unit) x 1,000,000."""
    opportunities = np.asarray(units, dtype="float64") * np.asarray(opportunities_per_unit, dtype="float64")
    result = ratio(defects, _like(opportunities, units, opportunities_per_unit))
    return result * 1_000_000


def sigma_level(dpmo_value: Any) -> Any:
    """Short-term sigma with the 1.5 shift: NormInv(1 - DPMO/1e6) + 1.5; 3.4 DPMO gives 6.0.

    DPMO 0 gives +inf (no defect observed); NaN stays NaN.
    """
    values = np.asarray(dpmo_value, dtype="float64")
    out = norm.ppf(1.0 - values / 1_000_000) + SIGMA_SHIFT
    return _like(np.asarray(out, dtype="float64"), dpmo_value)


def dpmo_for_sigma(sigma: Any) -> Any:
    """The inverse of ``sigma_level``: DPMO = 1e6 x (1 - Phi(sigma - 1.5))."""
    values = np.asarray(sigma, dtype="float64")
    return _like(np.asarray(1_000_000 * norm.sf(values - SIGMA_SHIFT), dtype="float64"), sigma)


def nps_from_counts(promoters: Any, detractors: Any, responses: Any) -> Any:
    """NPS = (% promoters - % detractors) on -100..100 from counts; NaN with no responses."""
    difference = np.asarray(promoters, dtype="float64") - np.asarray(detractors, dtype="float64")
    return ratio(_like(difference, promoters, detractors), responses) * 100


def nps(scores: Any) -> float:
    """Net Promoter Score of 0..10 scores: % promoters (9-10) - % detractors (0-6), over scores present."""
    values = pd.Series(scores, dtype="float64").dropna()
    return float(nps_from_counts((values >= 9).sum(), (values <= 6).sum(), len(values)))


def csat(scores: Any) -> float:
    """CSAT: responses scoring 4 or 5 on the 1..5 scale / responses with a CSAT score (0..1)."""
    values = pd.Series(scores, dtype="float64").dropna()
    return float(ratio((values >= 4).sum(), len(values)))


def training_completion_rate(completed_on_time: Any, due: Any, exempt: Any = 0) -> Any:
    """Assignments completed by their due date / (assignments due in the period - exempted ones)."""
    eligible = np.asarray(due, dtype="float64") - np.asarray(exempt, dtype="float64")
    return ratio(completed_on_time, _like(eligible, due, exempt))
