"""One year of synthetic facts at benchmark scale, generated vectorised (no Python loop per row).

20 sites x 5 lines = 100 lines, 8 process steps, 2 shifts, 365 days: 584,000 production runs and about 5 million
defect rows, 500,000 feedback responses and 200,000 training assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

DEFECT_CODES = np.array(
    [
        "SOLDER_BRIDGE",
        "COLD_JOINT",
        "MISALIGNED",
        "SCRATCH",
        "MISSING_PART",
        "LABEL_ERROR",
        "CRACK",
        "CONTAMINATION",
        "WRONG_TORQUE",
    ]
)


@dataclass(frozen=True)
class Scale:
    sites: int = 20
    lines_per_site: int = 5
    steps: int = 8
    days: int = 365
    start: date = date(2025, 1, 1)
    feedback: int = 500_000
    assignments: int = 200_000
    seed: int = 1


def production_runs(scale: Scale) -> pd.DataFrame:
    rng = np.random.default_rng(scale.seed)
    lines = scale.sites * scale.lines_per_site
    day, line, step, shift = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(scale.days), np.arange(lines), np.arange(scale.steps), np.arange(2), indexing="ij"
        )
    )
    n = len(day)
    dates = pd.Timestamp(scale.start) + pd.to_timedelta(day, unit="D")
    site_ids = pd.Series(line // scale.lines_per_site).map(lambda i: f"S{i:02d}")
    line_ids = pd.Series(line).map(lambda i: f"L{i:03d}")
    step_ids = pd.Series(step).map(lambda i: f"ST{i}")
    entered = rng.poisson(380, n)
    defective = rng.binomial(entered, 0.02)
    started = dates + pd.to_timedelta(6 * 60 + shift * 480 + step * 50, unit="m")
    run_id = (
        line_ids
        + "-"
        + pd.Series(dates.strftime("%Y%m%d"))
        + "-"
        + pd.Series(shift).map({0: "A", 1: "B"})
        + "-"
        + step_ids
    )
    return pd.DataFrame(
        {
            "run_id": run_id,
            "site_id": site_ids,
            "line_id": line_ids,
            "step_id": step_ids,
            "product_id": "P100",
            "production_date": dates.date,
            "shift": np.where(shift == 0, "A", "B"),
            "started_at": started,
            "finished_at": started + pd.to_timedelta(rng.integers(30, 120, n), unit="m"),
            "units_entered": entered,
            "units_first_pass": entered - defective,
            "units_reworked": defective // 2,
            "units_scrapped": defective - defective // 2,
            "units_inspected": entered,
            "units_defective": defective,
            "updated_at": started + pd.to_timedelta(3, unit="h"),
        }
    )


def defects(runs: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    """One row per run and defect code with a positive count: about 5 million at the default scale."""
    rng = np.random.default_rng(scale.seed + 1)
    codes = len(DEFECT_CODES)
    run_index = np.repeat(np.arange(len(runs)), codes)
    code_index = np.tile(np.arange(codes), len(runs))
    counts = rng.poisson(1.2, len(run_index)) + (rng.random(len(run_index)) < 0.6)
    keep = counts > 0
    run_index, code_index, counts = run_index[keep], code_index[keep], counts[keep]
    run_ids = runs["run_id"].to_numpy()[run_index]
    code_names = DEFECT_CODES[code_index]
    finished = runs["finished_at"].to_numpy()[run_index]
    return pd.DataFrame(
        {
            "defect_id": pd.Series(run_ids) + "-" + pd.Series(code_names),
            "run_id": run_ids,
            "defect_code": code_names,
            "defect_count": counts,
            "recorded_at": finished,
            "updated_at": finished + np.timedelta64(5, "m"),
        }
    )
