"""Superset's assets are generated from the BI views and the KPI registry; the committed files must be that output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bi.superset import build, charts, kpi_metric, read, rolls_up, uid
from core.kpi_registry import REGISTRY
from warehouse.bi_views import VIEWS

pytestmark = pytest.mark.unit

ASSETS = Path(__file__).resolve().parents[2] / "deploy" / "superset" / "assets"


def test_the_committed_assets_are_the_generators_output():
    assert read(ASSETS).files == build().files, "deploy/superset/assets is stale: run `qp superset-assets`"


def test_a_ratio_kpi_is_its_summed_numerator_over_its_summed_denominator_never_an_average():
    fpy, dpmo = kpi_metric(REGISTRY["fpy"]), kpi_metric(REGISTRY["dpmo"])
    assert "sum(case when kpi_name = 'fpy' then numerator end) * 1.0 / nullif(sum(case when kpi_name = 'fpy' " in (
        fpy.expression
    )
    assert dpmo.expression.endswith("* 1e+06 end")  # its scale
    for kpi in REGISTRY:
        assert "avg(" not in kpi_metric(kpi).expression.lower(), kpi.code


def test_a_kpi_that_does_not_roll_up_is_one_rows_value_and_every_kpi_refuses_to_mix_grains():
    for kpi in REGISTRY:
        metric = kpi_metric(kpi)
        if rolls_up(kpi):
            assert metric.expression.startswith("case when count(distinct case when"), kpi.code
            assert metric.warning is None
        else:
            assert f"count(case when kpi_name = '{kpi.code}' then 1 end) = 1" in metric.expression, kpi.code
            assert metric.warning
    assert not rolls_up(REGISTRY["rty"]) and not rolls_up(REGISTRY["sigma_level"])  # a route product; derived


def test_every_view_is_a_dataset_and_every_chart_stores_a_query_for_the_api():
    files = build().files
    datasets = [yaml.safe_load(t) for n, t in files.items() if n.startswith("datasets/")]
    assert {d["table_name"] for d in datasets} == {v.name for v in VIEWS}
    assert {d["schema"] for d in datasets} == {"bi"}
    database = yaml.safe_load(files["databases/qualitypulse_warehouse.yaml"])
    assert "qp_bi_reader:XXXXXXXXXX@" in database["sqlalchemy_uri"]  # no password in a file
    dashboard = yaml.safe_load(files["dashboards/qualitypulse.yaml"])
    on_dashboard = {
        c["meta"]["uuid"] for c in dashboard["position"].values() if isinstance(c, dict) and c.get("type") == "CHART"
    }
    assert on_dashboard == {uid("chart", c.slug) for c in charts()}
    for chart in charts():
        stored = yaml.safe_load(files[f"charts/{chart.slug}.yaml"])
        query = json.loads(stored["query_context"])["queries"][0]
        assert query["time_range"] == "No filter", chart.slug  # never the calendar's last N days
        assert (query["metrics"] or []) == list(chart.metrics), chart.slug
