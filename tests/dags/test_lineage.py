"""OpenLineage from the real DAGs: the events of one nightly chain form the graph a user checks in Marquez.

The provider's listener fires under ``dag.test()``: each task's START and COMPLETE, and the DAG run's COMPLETE
(no DAG START: ``dag.test()`` creates its run running, not queued). Airflow loads the provider's plugin once per
process and the plugin registers its listener only when a transport is configured at that moment, so the chain runs
in a process of its own, configured as a deployment is: by environment, with the file transport.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from tests.conftest import DEMO_END

pytestmark = pytest.mark.dags

RUN_AFTER = datetime.combine(DEMO_END + timedelta(days=1), time(0), tzinfo=UTC)
NAMESPACE = "qualitypulse-test"
# The smallest demo that keeps its story's shape: enough days for the KPI baselines, one site, two lines.
SMALL_DEMO = {"days": 35, "sites": 1, "lines_per_site": 2, "products": 1, "customers": 40, "employees_per_line": 6}

# One chain: the QMS's nightly ingest, then the load and KPI DAGs its Assets trigger.
CHAIN = ("qp_ingest_qms", "qp_validate_load", "qp_kpis")
RUN_CHAIN = """
import sys
from datetime import datetime
from orchestration.runner import run_dags
states = run_dags(datetime.fromisoformat(sys.argv[1]), dag_ids=sys.argv[2:])
assert set(states.values()) == {"success"}, states
"""


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _graph(events: list[dict]) -> dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]]:
    """Each job's inputs and outputs (namespace, name) over its COMPLETE events, as Marquez would show them."""
    jobs: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for event in events:
        if event["eventType"] != "COMPLETE":
            continue
        inputs, outputs = jobs[event["job"]["name"]]
        inputs.update((d["namespace"], d["name"]) for d in event.get("inputs", []))
        outputs.update((d["namespace"], d["name"]) for d in event.get("outputs", []))
    return jobs


def _producers(graph, dataset):  # type: ignore[no-untyped-def]
    return {job for job, (_, outputs) in graph.items() if dataset in outputs}


def _consumers(graph, dataset):  # type: ignore[no-untyped-def]
    return {job for job, (inputs, _) in graph.items() if dataset in inputs}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # the names of both dialects: tests/unit
def test_the_chains_events_lead_from_the_source_tables_through_the_landing_zone_and_facts_to_kpis_and_alerts(
    airflow_db, settings, monkeypatch, tmp_path
):
    from core.catalog import BY_NAME
    from demo.source_systems import DemoLocations, DemoSpec, generate
    from pipeline import lineage

    generate(DemoSpec(end_date=DEMO_END, **SMALL_DEMO), DemoLocations.of(settings))  # type: ignore[arg-type]
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "QP_DATA_DIR": str(settings.data_dir),
        "QP_WAREHOUSE_URL": settings.warehouse_url,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }

    command = [sys.executable, "-c", RUN_CHAIN, RUN_AFTER.isoformat(), *CHAIN]
    started = datetime.now(UTC)
    chain = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    assert chain.returncode == 0, chain.stderr[-3000:]
    events = _events(events_file)
    assert {e["job"]["namespace"] for e in events} == {NAMESPACE}
    assert all(e["eventType"] in {"START", "COMPLETE"} for e in events), {e["eventType"] for e in events}
    graph = _graph(events)
    # Every task of the chain reported: the DAG runs and each task (a mapped task once per dataset).
    assert set(CHAIN) <= set(graph)
    assert {"qp_kpis.build_kpis", "qp_kpis.check_regressions", "qp_kpis.build_report"} <= set(graph)

    # Follow one dataset from its source table to the alerts, outputs to inputs, as one reads a lineage graph.
    defects = BY_NAME["defects"]
    source = lineage.source(settings, defects)
    assert source.namespace.startswith("sqlite://") and source.name == "main.defects"
    landed = lineage.landing(settings, defects)
    assert _consumers(graph, (source.namespace, source.name)) == {"qp_ingest_qms.land_defects"}
    assert _producers(graph, ("file", landed.name)) == {"qp_ingest_qms.land_defects"}
    assert _consumers(graph, ("file", landed.name)) == {"qp_validate_load.validate_and_load_facts"}
    fact = lineage.warehouse_table(settings, defects.fact_table)
    assert "qp_validate_load.validate_and_load_facts" in _producers(graph, (fact.namespace, fact.name))
    assert "qp_kpis.build_kpis" in _consumers(graph, (fact.namespace, fact.name))
    kpis = lineage.warehouse_table(settings, "kpi_daily")
    assert _producers(graph, (kpis.namespace, kpis.name)) == {"qp_kpis.build_kpis"}
    assert "qp_kpis.check_regressions" in _consumers(graph, (kpis.namespace, kpis.name))
    alerts = lineage.warehouse_table(settings, "alert")
    assert _producers(graph, (alerts.namespace, alerts.name)) == {"qp_kpis.check_regressions"}
    assert {"qp_kpis.build_report", "qp_kpis.send_notifications"} <= _consumers(graph, (alerts.namespace, alerts.name))
    report = lineage.report(settings)
    assert _producers(graph, ("file", report.name)) == {"qp_kpis.build_report"}

    # Airflow names the same data: the Assets the chain updated carry the URIs of the datasets their tasks reported.
    updated = _assets_updated_since(started)
    assert (defects.asset_name, landed.uri) in updated
    assert ("qualitypulse.warehouse.kpi_daily", kpis.uri) in updated
    assert ("qualitypulse.warehouse.alerts", alerts.uri) in updated

    # The run facets tie each task's events to its Airflow run; no credential reaches an event.
    land = next(e for e in events if e["job"]["name"] == "qp_ingest_qms.land_defects" and e["eventType"] == "START")
    assert land["run"]["facets"]["parent"]["job"]["name"] == "qp_ingest_qms"
    assert "password" not in events_file.read_text().lower()


def _assets_updated_since(started: datetime) -> set[tuple[str, str]]:
    """(name, URI) of each Asset with an event in Airflow's metadata since ``started``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (
        select(AssetModel.name, AssetModel.uri)
        .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        .where(AssetEvent.timestamp >= started)
    )
    with create_session() as session:
        return {(name, uri) for name, uri in session.execute(query)}


def test_without_a_transport_the_provider_registers_no_listener():
    """Nothing configured: the provider's plugin has no listener, so tasks pay nothing and nothing is sent."""
    env = {k: v for k, v in os.environ.items() if "OPENLINEAGE" not in k}
    probe = (
        "from airflow.providers.openlineage.plugins.openlineage import OpenLineageProviderPlugin as P;"
        "from orchestration.lineage import openlineage_enabled;"
        "print(len(P.listeners), openlineage_enabled())"
    )
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])

    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)

    assert out.stdout.split() == ["0", "False"], out.stderr[-2000:]
