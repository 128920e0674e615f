"""Process capability on the demo: every product and step with a spec, month by month, as an independent
computation from the runs gives it, and in the BI view."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.summary import render
from tests.helpers import read_table
from transforms.spc import capability

pytestmark = pytest.mark.integration


def test_the_demos_steps_are_judged_against_their_specs_month_by_month(demo_warehouse):
    settings, _ = demo_warehouse
    table = read_table(settings, "process_capability")
    runs = read_table(settings, "fact_production_run")
    runs = runs[runs.product_id.notna()].copy()
    started = pd.to_datetime(runs.started_at)
    runs["minutes"] = (pd.to_datetime(runs.finished_at) - started).dt.total_seconds() / 60
    runs["month"] = started.dt.to_period("M").dt.start_time.dt.date.astype(str)
    # The demo's specs (demo/capability.yaml) bound every step, for every product.
    assert set(table.step_id) == {"ASSY", "SOLDER", "TEST", "PACK"}
    assert set(table.product_id) == set(runs.product_id)
    table["month"] = pd.to_datetime(table.month_start).dt.date.astype(str)
    row = table[(table.product_id == "P100") & (table.step_id == "SOLDER")].sort_values("month").iloc[-1]
    month = runs[(runs.product_id == "P100") & (runs.step_id == "SOLDER") & (runs.month == row.month)]
    expected = capability(month.sort_values("started_at").minutes.to_numpy(), 70, 150, target=110)
    assert row.runs == len(month)
    for name in ("mean", "sigma_within", "sigma_overall", "cp", "cpk", "cpm", "pp", "ppk"):
        assert row[name] == pytest.approx(getattr(expected, name)), name
    # The demo's soldering cycle times (80 to 140 minutes) are too wide for 70-150: a Cpk below 1, as it should.
    assert row.cpk < 1 and row.cpm < 1
    pack = table[table.step_id == "PACK"]
    assert pack.cp.isna().all() and pack.lsl.isna().all() and (pack.cpk == pack.cpu).all()  # an upper limit alone
    prefix = "bi." if settings.warehouse_url.startswith("postgresql") else "bi_"
    view = pd.read_sql(f"select * from {prefix}process_capability", settings.warehouse_url)
    assert len(view) == len(table) and set(view.columns) >= {"lower_spec_limit", "upper_spec_limit", "cpk", "ppk"}
    times = pd.read_sql(f"select * from {prefix}cycle_times", settings.warehouse_url)
    expected_minutes = runs.set_index("run_id").minutes.reindex(times.run_id).to_numpy()
    assert times.cycle_time_minutes.to_numpy() == pytest.approx(expected_minutes, abs=1e-6)


def test_the_run_summary_reads_each_steps_capability_in_its_latest_settled_month(demo_warehouse):
    settings, _ = demo_warehouse
    table = read_table(settings, "process_capability")
    text = render(settings)
    section = text.split("Process capability, cycle time")[1].split("\n\n")[0].splitlines()[2:]
    shown = {(row.split()[0], row.split()[1]): row for row in section}
    assert set(shown) == set(zip(table.step_id, table.product_id, strict=True))
    # The month shown is the latest with 30 runs or more (the demo's last month is partial), with its indices.
    settled = table[table.runs >= 30].sort_values("month_start").groupby(["step_id", "product_id"]).tail(1)
    for row in settled.itertuples():
        line = shown[(row.step_id, row.product_id)]
        assert f"{pd.Timestamp(row.month_start):%Y-%m}" in line and f"{row.cpk:.2f}" in line
        reading = "not capable" if row.cpk < 1 else "barely capable" if row.cpk < 1.33 else "capable"
        assert line.endswith(f"  {reading}")
    assert all(line.endswith("not capable") for key, line in shown.items() if key[0] == "SOLDER")
