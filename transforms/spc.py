"""Statistical process control charts, following the conventions of ``KPIS.md``."""

from __future__ import annotations

from typing import Any

import numpy as np


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


def rule_1_beyond_limits(values: Any, lower: Any, upper: Any) -> Any:
    """Western Electric rule 1: a point strictly beyond a 3-sigma limit (on a limit is in control)."""
    v = np.asarray(values, dtype="float64")
    return (v > np.asarray(upper)) | (v < np.asarray(lower))
