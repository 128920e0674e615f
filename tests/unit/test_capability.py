"""Process capability per product, step and month against specification limits."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.capability import Spec, SpecsFileError, load_specs
from transforms.capability import MIN_RUNS, monthly_capability, spec_for
from transforms.spc import capability

pytestmark = pytest.mark.unit


def _runs(product: str, step: str, minutes: list[float], first: datetime) -> pd.DataFrame:
    # Listed out of order on purpose: sigma within follows the runs' start order, not the rows'.
    starts = [first + timedelta(hours=8 * i) for i in range(len(minutes))]
    frame = pd.DataFrame({"product_id": product, "step_id": step, "started_at": starts, "cycle_minutes": minutes})
    return frame.iloc[::-1]


def test_each_month_is_judged_against_its_steps_spec_in_start_order():
    rng = np.random.default_rng(5)
    march, april = rng.normal(100, 5, 40).tolist(), rng.normal(110, 8, 30).tolist()
    runs = pd.concat(
        [_runs("P1", "SOLDER", march, datetime(2026, 3, 1)), _runs("P1", "SOLDER", april, datetime(2026, 4, 1))]
    )
    specs = [Spec(step="SOLDER", lsl=70, usl=130), Spec(step="ASSY", usl=90)]
    rows = monthly_capability(runs, specs).set_index("month_start")
    assert [str(m) for m in rows.index] == ["2026-03-01", "2026-04-01"]
    expected = capability(march, 70, 130)
    march_row = rows.iloc[0]
    assert (march_row.runs, march_row.lsl, march_row.usl) == (40, 70, 130)
    for name in ("mean", "sigma_within", "sigma_overall", "cp", "cpk", "cpm", "pp", "ppk"):
        assert march_row[name] == pytest.approx(getattr(expected, name)), name
    assert rows.iloc[1].cpk == pytest.approx(capability(april, 70, 130).cpk)


def test_a_products_own_spec_wins_and_thin_months_are_left_out():
    shared, own = Spec(step="TEST", lsl=50, usl=200), Spec(product="P2", step="TEST", usl=150)
    assert spec_for([shared, own], "P2", "TEST") is own and spec_for([shared, own], "P1", "TEST") is shared
    assert spec_for([shared], "P1", "PACK") is None
    few = _runs("P1", "TEST", [100.0 + i for i in range(MIN_RUNS - 1)], datetime(2026, 3, 1))
    assert monthly_capability(few, [shared]).empty
    one_sided = monthly_capability(_runs("P2", "TEST", [100.0 + i % 7 for i in range(20)], datetime(2026, 3, 1)), [own])
    assert np.isnan(one_sided.iloc[0].cp) and one_sided.iloc[0].cpk == pytest.approx(one_sided.iloc[0].cpu)


def test_the_specs_file_is_validated(tmp_path):
    path = tmp_path / "capability.yaml"
    assert load_specs(path) == []
    path.write_text("specs:\n  - {step: ASSY, lsl: 160, usl: 60}\n")
    with pytest.raises(SpecsFileError, match="lsl must be below usl"):
        load_specs(path)
    path.write_text("specs:\n  - {step: ASSY, lsl: 60}\n  - {step: ASSY, usl: 90}\n")
    with pytest.raises(SpecsFileError, match="one spec per product, step and characteristic: ALL/ASSY"):
        load_specs(path)
    with pytest.raises(ValidationError, match="needs lsl, usl or both"):
        Spec(step="ASSY")
