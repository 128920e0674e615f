"""The KPI registry is the one place that says what a KPI is; the rest of the code reads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.catalog import DATASETS
from core.kpi_registry import REGISTRY
from transforms.kpi_tables import kpi_value
from warehouse.schema import metadata

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "transforms", "sources", "expectations", "warehouse", "alerts", "report", "pipeline", "demo")
PACKAGES += ("orchestration", "cli", "dags", "benchmarks")
# Where a KPI code may be written: the registry, the formulas that build its family, and the schema's history.
ALLOWED = {Path("core/kpi_registry.py"), Path("transforms/kpi_tables.py"), Path("transforms/kpis.py")}


def _not_a_kpi_code() -> set[str]:
    """Names that happen to equal a KPI code but name something else: a dataset, or a warehouse column."""
    columns = {column.name for table in metadata.tables.values() for column in table.columns}
    return {d.name for d in DATASETS} | columns


def test_kpi_codes_are_written_only_in_the_registry_and_the_formulas():
    codes = set(REGISTRY.codes()) - _not_a_kpi_code()
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED or "migrations" in relative.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in codes:
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
    for path in sorted((ROOT / "report").glob("*.[jh]*")):  # the report's script and page
        words = set(re.findall(r"\b[a-z][a-z0-9_]+\b", path.read_text()))
        found += [f"{path.relative_to(ROOT)}: {code!r}" for code in sorted(words & codes)]
    assert found == [], "KPI codes outside the registry and the formulas:\n" + "\n".join(found)


def test_every_kpi_is_declared_completely():
    for kpi in REGISTRY:
        assert kpi.label and kpi.description, kpi.code
        assert kpi.numerator.dataset in {d.name for d in DATASETS}, kpi.code
        if kpi.denominator is not None:
            assert kpi.denominator.dataset in {d.name for d in DATASETS}, kpi.code
        assert (kpi.denominator is None) == (kpi.additivity in ("amount", "route_product", "quantile")), kpi.code
        assert (kpi.quantile is not None) == (kpi.additivity == "quantile"), kpi.code
        assert kpi.grains, kpi.code


def test_each_dataset_dates_one_kind_of_kpi_day():
    """A blocked batch holds the days of every family its dataset feeds, found by one column of its rows."""
    held = REGISTRY.held_by()
    assert held["training_assignments"] == ("due_on", ("training", "people"))
    assert held["shipments"] == ("shipped_on", ("cost", "customer", "retention"))
    assert set(held) <= {d.name for d in DATASETS}


@pytest.mark.parametrize(
    ("code", "numerator", "denominator", "value"),
    [
        ("fpy", 97.0, 100.0, 0.97),
        ("dpmo", 3.0, 1_000_000.0, 3.0),
        ("nps", 30.0, 100.0, 30.0),
        ("complaint_rate", 2.0, 4000.0, 0.5),
        ("coq_total", 1234.5, 1.0, 1234.5),
        ("fpy", 0.0, 0.0, None),  # KPIS.md: a zero denominator is NULL, never 0
    ],
)
def test_values_follow_from_summed_counts_as_the_registry_declares(code, numerator, denominator, value):
    import pandas as pd

    got = kpi_value(code, pd.Series([numerator]), pd.Series([denominator])).iloc[0]
    assert (pd.isna(got) and value is None) or got == pytest.approx(value)


def test_sigma_level_of_3_4_dpmo_is_six():
    import pandas as pd

    got = kpi_value("sigma_level", pd.Series([3.4]), pd.Series([1_000_000.0])).iloc[0]
    assert got == pytest.approx(6.0, abs=1e-3)
