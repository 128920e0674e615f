"""One KPI registry: a KPI declared once reaches the KPI tables, the docs, the report, the summary and its alerts.

A toy KPI (units inspected / units entered) is added to the registry for the test's duration, with nothing else
changed, and the chain runs over the demo's QMS on both warehouses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from core.kpi_registry import REGISTRY, Kpi, Measure
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions
from pipeline.ingest import ingest_source
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from pipeline.summary import render as render_summary
from report.build import build_report, default_range
from tests.helpers import INTERVAL_END, read_table
from warehouse.docs import render as render_docs

pytestmark = pytest.mark.integration

TOY = Kpi(
    "inspection_coverage",
    "Inspection coverage",
    "production",
    "fraction",
    True,
    Measure("units inspected", "production_runs", "production_date", "units_inspected"),
    Measure("units that entered the step", "production_runs", "production_date", "units_entered"),
    "ratio",
    ("line", "site", "company"),
    "imr",
    "units inspected / units entered",
    tile=True,
    summary=True,
)
# A floor no day reaches: every line's coverage is below it, so each line raises one alert.
RULES = """
routes:
  warning: [qp_alert_webhook]
rules:
  - name: line_inspection_coverage
    kpi: inspection_coverage
    scope: line
    method: target
    adverse: down
    target: 1.5
    severity: warning
"""


@pytest.fixture
def toy_kpi():  # type: ignore[no-untyped-def]
    with REGISTRY.extended(TOY):
        yield TOY
    assert TOY.code not in REGISTRY  # gone again after the test


def test_a_kpi_added_to_the_registry_alone_reaches_tables_docs_report_summary_and_alerts(
    settings, demo_sources, toy_kpi, tmp_path: Path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = settings.model_copy(update={"alert_rules": rules})
    ingest_source("qms", INTERVAL_END, "toy", settings)
    validate_and_load(settings)
    build_kpis("toy", settings)
    check_regressions("toy", settings, configured_channels)

    # The tables: daily rows at the declared grains, the value from the facts' own counts, and weekly rollups.
    daily = read_table(settings, "kpi_daily")
    toy = daily[daily["kpi"] == TOY.code]
    assert set(toy["grain"]) == {"line", "site", "company"}
    runs = read_table(settings, "fact_production_run")
    runs["kpi_date"] = pd.to_datetime(runs["production_date"]).dt.date
    expected = runs.groupby(["kpi_date", "line_id"])[["units_inspected", "units_entered"]].sum()
    lines = toy[toy["grain"] == "line"].assign(kpi_date=pd.to_datetime(toy["kpi_date"]).dt.date)
    got = lines.set_index(["kpi_date", "line_id"])[["numerator", "denominator", "value"]].sort_index()
    assert len(got) == len(expected)
    assert (got["numerator"].to_numpy() == expected["units_inspected"].to_numpy()).all()
    assert got["value"].to_numpy() == pytest.approx(
        (expected["units_inspected"] / expected["units_entered"]).to_numpy()
    )
    periods = read_table(settings, "kpi_period")
    assert {"week", "month"} <= set(periods.loc[periods["kpi"] == TOY.code, "period"])

    # The warehouse docs list it in the KPI catalog, with its unit and what it counts.
    docs = render_docs()
    assert re.search(r"\| `inspection_coverage` \| Inspection coverage: units inspected / units entered \|", docs)

    # The report shows it as a tile, in percent.
    page = build_report(settings, *default_range(settings)).read_text()
    data = json.loads(re.search(r"const REPORT = (\{.*?\});</script>", page, re.S).group(1))  # type: ignore[union-attr]
    (tile,) = [t for t in data["tiles"] if t["kpi"] == TOY.code]
    assert (tile["label"], tile["percent"], tile["higher_better"]) == ("Inspection coverage", True, True)

    # The summary gives it a row, in its display format.
    summary = render_summary(settings)
    (row,) = [line for line in summary.splitlines() if line.strip().startswith("Inspection coverage")]
    assert re.search(r"\d+\.\d\d%", row)

    # And the alert says its name and its value the registry's way.
    alerts = read_table(settings, "alert")
    toy_alerts = alerts[alerts["kpi"] == TOY.code]
    assert set(toy_alerts["line_id"]) == set(runs["line_id"])
    assert (
        toy_alerts["subject"]
        .str.contains(r"^Inspection coverage on line \S+ at site \S+: \d+\.\d\d% on \S+, below the target 150\.00%")
        .all()
    )
