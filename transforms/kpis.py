"""The KPI formulas of ``KPIS.md`` as a small public library, usable from the pipeline and from a notebook.

Each function takes numbers or array-likes (numpy arrays, pandas Series) and returns the same shape. Ratios are
fractions 0..1; NPS is on its own -100..100 scale. A ratio whose denominator is zero is NaN (stored as NULL).
"""

from __future__ import annotations

from typing import Any, NamedTuple

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


def rty(step_fpys: Any) -> Any:
    """Rolled Throughput Yield: the product of the FPYs of the steps on a product's route.

    A 1-D input is one route (returns a number); a 2-D input is one route per row (returns one value per row).
    NaN if any step's FPY is unknown or the route is empty.
    """
    values = np.asarray(step_fpys, dtype="float64")
    if values.shape[-1:] == (0,):
        return np.nan if values.ndim == 1 else np.full(values.shape[0], np.nan)
    product = np.prod(values, axis=-1)
    if isinstance(step_fpys, pd.DataFrame):
        return pd.Series(product, index=step_fpys.index)
    return float(product) if np.ndim(product) == 0 else product


class OEE(NamedTuple):
    availability: Any
    performance: Any
    quality: Any
    oee: Any


def oee(
    planned_minutes: Any, downtime_minutes: Any, ideal_cycle_seconds: Any, total_count: Any, good_count: Any
) -> OEE:
    """OEE = availability x performance x quality (planned production time excludes breaks).

    availability = run time / planned time, with run time = planned - downtime;
    performance = ideal cycle time x total count / run time; quality = good count / total count.
    """
    planned = np.asarray(planned_minutes, dtype="float64")
    run_minutes = planned - np.asarray(downtime_minutes, dtype="float64")
    ideal_minutes = np.asarray(ideal_cycle_seconds, dtype="float64") * np.asarray(total_count, dtype="float64") / 60
    shape_of = (planned_minutes, total_count)
    availability = ratio(_like(run_minutes, *shape_of), planned_minutes)
    performance = ratio(_like(ideal_minutes, *shape_of), _like(run_minutes, *shape_of))
    quality = ratio(good_count, total_count)
    return OEE(availability, performance, quality, availability * performance * quality)


def scrap_rate(scrapped: Any, entered: Any) -> Any:
    """Scrapped units / units entering."""
    return ratio(scrapped, entered)


def rework_rate(reworked: Any, entered: Any) -> Any:
    """Reworked units / units entering."""
    return ratio(reworked, entered)


class CycleTime(NamedTuple):
    mean: float
    median: float
    p90: float


def cycle_time(minutes: Any) -> CycleTime:
    """Process cycle time of a step: mean, median and 90th percentile of (finished - started), in minutes."""
    values = pd.Series(minutes, dtype="float64").dropna()
    if values.empty:
        return CycleTime(np.nan, np.nan, np.nan)
    return CycleTime(float(values.mean()), float(values.median()), float(values.quantile(0.9)))


class CostOfQuality(NamedTuple):
    total: Any
    copq: Any
    copq_share_of_revenue: Any
    prevention_share: Any
    appraisal_share: Any
    internal_failure_share: Any
    external_failure_share: Any


def cost_of_quality(
    prevention: Any, appraisal: Any, internal_failure: Any, external_failure: Any, revenue: Any = None
) -> CostOfQuality:
    """The prevention-appraisal-failure model.

    total = prevention + appraisal + internal failure + external failure; COPQ = internal + external failure;
    COPQ share of revenue = COPQ / revenue of the same period (NaN without revenue); each category's share of
    the total.
    """
    parts = [np.asarray(x, dtype="float64") for x in (prevention, appraisal, internal_failure, external_failure)]
    inputs = (prevention, appraisal, internal_failure, external_failure)
    total = _like(sum(parts), *inputs)  # type: ignore[arg-type]
    copq = _like(parts[2] + parts[3], *inputs)
    share_of_revenue = ratio(copq, revenue) if revenue is not None else ratio(copq, np.zeros_like(parts[0]))
    shares = [ratio(part, total) for part in inputs]
    return CostOfQuality(total, copq, share_of_revenue, *shares)


def retention_rate(customers_at_start: Any, customers_at_end: Any, new_customers: Any) -> Any:
    """(customers at end of period - new customers acquired in the period) / customers at start of period."""
    kept = np.asarray(customers_at_end, dtype="float64") - np.asarray(new_customers, dtype="float64")
    return ratio(_like(kept, customers_at_end, new_customers), customers_at_start)


def complaint_rate(complaints: Any, units_shipped: Any) -> Any:
    """Complaints per 1,000 units shipped."""
    return ratio(complaints, units_shipped) * 1000


def training_compliance_rate(compliant_employees: Any, active_headcount: Any) -> Any:
    """Employees holding every required, unexpired course for their role / active headcount."""
    return ratio(compliant_employees, active_headcount)


def overdue_share(overdue: Any, assignments: Any) -> Any:
    """Assignments past due and not completed / assignments."""
    return ratio(overdue, assignments)


def assessment_pass_rate(passed: Any, assessed: Any) -> Any:
    """Completed assessments scoring at least the course's pass mark / completed assessments."""
    return ratio(passed, assessed)


def training_hours_per_employee(completed_hours: Any, active_headcount: Any) -> Any:
    """Completed training hours / active headcount."""
    return ratio(completed_hours, active_headcount)
