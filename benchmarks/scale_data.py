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
        "POROSITY",
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
            "planned_minutes": 120.0,
            "downtime_minutes": rng.poisson(7, n).astype("float64"),
            "ideal_cycle_seconds": 14.0,
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


def products() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": ["P100"],
            "product_name": ["Motor controller"],
            "opportunities_per_unit": [12],
            "route": [",".join(f"ST{i}" for i in range(Scale().steps))],
            "updated_at": [pd.Timestamp("2024-12-01")],
        }
    )


def feedback(scale: Scale) -> pd.DataFrame:
    rng = np.random.default_rng(scale.seed + 2)
    n = scale.feedback
    responded = (
        pd.Timestamp(scale.start)
        + pd.to_timedelta(rng.integers(0, scale.days, n), unit="D")
        + pd.to_timedelta(rng.integers(7 * 60, 21 * 60, n), unit="m")
    )
    return pd.DataFrame(
        {
            "response_id": pd.Series(np.arange(n)).map(lambda i: f"R{i:08d}"),
            "responded_at": responded,
            "customer_id": pd.Series(rng.integers(0, 20_000, n)).map(lambda i: f"C{i:05d}"),
            "site_id": pd.Series(rng.integers(0, scale.sites, n)).map(lambda i: f"S{i:02d}"),
            "nps_score": rng.integers(0, 11, n),
            "csat_score": rng.integers(1, 6, n).astype("float"),
            "comment": None,
        }
    )


def training_assignments(scale: Scale) -> pd.DataFrame:
    rng = np.random.default_rng(scale.seed + 3)
    n = scale.assignments
    lines = rng.integers(0, scale.sites * scale.lines_per_site, n)
    assigned = pd.Series(pd.Timestamp(scale.start) + pd.to_timedelta(rng.integers(-14, scale.days - 14, n), unit="D"))
    due = assigned + pd.Timedelta(days=14)
    done = rng.random(n) < 0.9
    completed = (assigned + pd.to_timedelta(rng.integers(1, 20, n), unit="D")).where(done)
    return pd.DataFrame(
        {
            "assignment_id": pd.Series(np.arange(n)).map(lambda i: f"A{i:08d}"),
            "employee_id": pd.Series(rng.integers(0, 4000, n)).map(lambda i: f"E{i:05d}"),
            "site_id": pd.Series(lines // scale.lines_per_site).map(lambda i: f"S{i:02d}"),
            "line_id": pd.Series(lines).map(lambda i: f"L{i:03d}"),
            "course_id": "C-SAFETY",
            "assigned_on": assigned.dt.date,
            "due_on": due.dt.date,
            "completed_on": completed.dt.date,
            "status": np.where(done, "completed", "assigned"),
            "score": np.where(done, 80.0, np.nan),
            "updated_at": completed.fillna(assigned),
        }
    )
