"""Process capability per product, process step and month, pure: Cp, Cpk, Cpm, Pp, Ppk of a characteristic the
runs measure (their cycle time), against its specification limits (``core.capability``)."""

from __future__ import annotations

import pandas as pd

from core.capability import ALL, Spec
from transforms.spc import capability

CAPABILITY_COLUMNS = [
    "product_id", "step_id", "characteristic", "month_start", "lsl", "usl", "target", "runs", "mean",
    "sigma_within", "sigma_overall", "cp", "cpl", "cpu", "cpk", "cpm", "pp", "ppl", "ppu", "ppk",
]  # fmt: skip
MIN_RUNS = 10  # fewer runs in a month than this: no indices (their sigma would mean little)
CAPABLE_INDEX, MARGINAL_INDEX = 1.33, 1.0  # the usual bars for a capable and a barely capable process (Cpk, Ppk)


def capability_reading(index: float) -> str:
    """What a capability index says in words: capable, barely capable or not capable."""
    return "capable" if index >= CAPABLE_INDEX else "barely capable" if index >= MARGINAL_INDEX else "not capable"


def spec_for(specs: list[Spec], product: str, step: str) -> Spec | None:
    """The product's own spec at the step, else the step's spec for every product."""
    own = [s for s in specs if s.step == step and s.product == product]
    shared = [s for s in specs if s.step == step and s.product == ALL]
    return next(iter(own or shared), None)


def monthly_capability(runs: pd.DataFrame, specs: list[Spec]) -> pd.DataFrame:
    """One row per product, step and calendar month with a spec: the month's runs in start order (sigma within is
    MR-bar / 1.128 of consecutive runs), from ``product_id``, ``step_id``, ``started_at`` and ``cycle_minutes``."""
    rows = []
    if runs.empty or not specs:
        return pd.DataFrame(columns=CAPABILITY_COLUMNS)
    dated = runs.dropna(subset=["cycle_minutes", "started_at"]).assign(
        month_start=lambda f: pd.to_datetime(f["started_at"]).dt.to_period("M").dt.start_time.dt.date
    )
    for (product, step, month), group in dated.groupby(["product_id", "step_id", "month_start"], sort=True):
        spec = spec_for(specs, str(product), str(step))
        if spec is None or len(group) < MIN_RUNS:
            continue
        values = group.sort_values("started_at")["cycle_minutes"].to_numpy(dtype="float64")
        try:
            indices = capability(values, spec.lsl, spec.usl, subgroup_size=1, target=spec.target)
        except ValueError:  # values that do not vary
            continue
        rows.append(
            {
                "product_id": product,
                "step_id": step,
                "characteristic": spec.characteristic,
                "month_start": month,
                "lsl": spec.lsl,
                "usl": spec.usl,
                "target": spec.target,
                "runs": len(values),
                **indices.__dict__,
            }
        )
    return pd.DataFrame(rows, columns=CAPABILITY_COLUMNS)
