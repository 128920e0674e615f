"""docker-compose.yml against the Compose Specification's schema, plus what the schema can't check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "reference" / "compose-spec.json"
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_schema(compose):
    from jsonschema import Draft7Validator

    errors = sorted(Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(compose), key=str)
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_every_depends_on_names_a_service(compose):
    services = set(compose["services"])
    for name, service in compose["services"].items():
        assert set(service.get("depends_on", {})) <= services, name


def test_every_variable_is_defined_in_env_example():
    defined = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert used - defined == set()


def test_images_are_pinned_and_services_have_healthchecks(compose):
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name
        if service.get("restart") != "no":  # one-shot jobs (migrations, demo data) exit; services stay healthy
            assert "healthcheck" in service, name
    assert "apache/airflow:3.3.2" in (ROOT / "Dockerfile").read_text()


def test_airflow_services_share_the_common_anchor(compose):
    airflow = [s for n, s in compose["services"].items() if n.startswith("airflow-")]
    assert {s["environment"]["AIRFLOW__CORE__EXECUTOR"] for s in airflow} == {"CeleryExecutor"}
    commands = {" ".join(s["command"]) if isinstance(s["command"], list) else s["command"] for s in airflow}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"} <= commands


def test_the_bi_tool_reads_the_warehouse_through_the_read_only_role(compose):
    init, superset = compose["services"]["superset-init"], compose["services"]["superset"]
    uri = init["environment"]["QP_SUPERSET_WAREHOUSE_URI"]
    assert (
        uri.startswith("postgresql+psycopg2://qp_bi_reader:${WAREHOUSE_BI_PASSWORD")
        and "@postgres:5432/qualitypulse" in uri
    )
    assert init["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert superset["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    airflow_init = compose["services"]["airflow-init"]
    assert "qp bi-role qp_bi_reader" in " ".join(airflow_init["command"])  # grants the bi views after the migration
    assert "create role qp_bi_reader" in (ROOT / "deploy" / "postgres" / "init.sh").read_text()


def test_the_bi_tool_imports_the_repositorys_assets_with_the_tested_superset(compose):
    """superset-init runs deploy/superset/init.sh (the start-up tests/bi/test_superset.py runs) over the mounted
    assets, and the image is the Superset release the lock pins."""
    init = compose["services"]["superset-init"]
    assert init["command"] == ["/bin/sh", "/app/qualitypulse/init.sh"]
    assert "./deploy/superset:/app/qualitypulse:ro" in init["volumes"]
    init_script = (ROOT / "deploy" / "superset" / "init.sh").read_text()
    assert "import_assets.py" in init_script and "superset db upgrade" in init_script
    lock = (ROOT / "deploy" / "superset" / "requirements.lock").read_text()
    version = re.search(r"^apache[-_]superset==(\S+)$", lock, re.MULTILINE)
    assert version is not None
    dockerfile = (ROOT / "deploy" / "superset" / "Dockerfile").read_text()
    assert f"FROM apache/superset:{version.group(1)}\n" in dockerfile
    assert init["image"] == compose["services"]["superset"]["image"] == f"qualitypulse-superset:{version.group(1)}"


def test_the_triggerer_listens_on_the_event_channel(compose):
    env = compose["services"]["airflow-triggerer"]["environment"]
    assert env["QP_EVENT_QUEUE"] == "redis+pubsub"
    assert env["AIRFLOW_CONN_QP_EVENTS"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW_CONN_QP_EVENTS"] != env["AIRFLOW__CELERY__BROKER_URL"]  # events apart from Celery's queue
    assert env["QP_SIGNAL_DIR"].startswith("/opt/qualitypulse-data")  # the volume the sources drop markers into


def test_workers_can_share_the_mapped_warehouse_writes_and_report_failures(compose):
    init = " ".join(compose["services"]["airflow-init"]["command"])
    assert "airflow pools set qp_warehouse ${QP_WAREHOUSE_POOL_SLOTS:-4}" in init  # more than one writer on PostgreSQL
    worker = compose["services"]["airflow-worker"]["environment"]
    for channel in ("EMAIL", "SLACK", "WEBHOOK"):  # the notifier runs in the worker that ran the failed task
        assert f"AIRFLOW_CONN_QP_ALERT_{channel}" in worker


def test_the_local_stack_runs_the_compose_topology_with_its_settings(compose):
    """The end-to-end test's stack (orchestration/local_stack.py) is the compose file's, read from it: the same
    Airflow services and replicas, and every shared setting except those that name a container or a variable."""
    from orchestration.local_stack import HOST_SPECIFIC, compose_services, compose_settings

    services = compose_services(ROOT / "docker-compose.yml")
    assert [s.name for s in services] == [
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker-1",
        "airflow-worker-2",
    ]
    common = {key: str(value) for key, value in compose["x-airflow-common"]["environment"].items()}
    containers = ("postgres:", "redis:", "airflow-apiserver:", "lms-api:", "marquez-api:", "/opt/")
    names_a_host = {k for k, v in common.items() if "${" in v or any(c in v for c in containers)}
    assert names_a_host == set(HOST_SPECIFIC)  # the host supplies exactly these, and each is still in the file
    assert compose_settings(ROOT / "docker-compose.yml") == {k: v for k, v in common.items() if k not in names_a_host}
    assert compose_settings(ROOT / "docker-compose.yml")["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_airflow_sends_lineage_to_marquez_which_has_its_own_database(compose):
    services = compose["services"]
    for name in ("airflow-worker", "airflow-scheduler"):  # task events from workers, DAG run events from the scheduler
        env = services[name]["environment"]
        assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["url"] == "http://marquez-api:5000", name
        assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"]
    api = services["marquez-api"]
    assert api["environment"]["POSTGRES_DB"] == "marquez" and api["environment"]["POSTGRES_HOST"] == "postgres"
    assert "create database marquez owner marquez" in (ROOT / "deploy" / "postgres" / "init.sh").read_text()
    assert services["marquez-web"]["environment"]["MARQUEZ_HOST"] == "marquez-api"
    worker = services["airflow-worker"]["environment"]
    assert {"QP_INGEST_DEADLINE_MINUTES", "QP_KPIS_DEADLINE_MINUTES"} <= set(worker)  # the deadlines, when parsing


def test_the_image_installs_the_wheel_with_the_runtime_lock_and_nothing_else(compose):
    """What tests/integration/test_packaging.py runs outside the repository is what the image does: the wheel and the
    runtime lock, the DAG files in Airflow's DAG folder, the data directory the compose stack mounts."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    runtime = [line for line in lines if not line.startswith(("FROM python", "RUN pip install --no-cache-dir uv"))]
    assert "requirements-dev.lock" not in dockerfile
    assert any("-r /opt/qualitypulse/requirements.lock" in line for line in runtime)
    assert any("--no-deps /opt/qualitypulse/dist/qualitypulse-*.whl" in line for line in lines)
    # The final stage copies the lock, the built wheel and the DAG files: no package source goes in beside the wheel.
    final = lines[next(i for i, line in enumerate(lines) if line.startswith("FROM apache/airflow")) :]
    copied = [line.split()[-2] for line in final if line.startswith("COPY")]
    assert copied == ["requirements.lock", "/dist/", "dags"]
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags" in dockerfile
    data_dir = compose["x-airflow-common"]["environment"]["QP_DATA_DIR"]
    assert f"QP_DATA_DIR={data_dir}" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".airflow", ".git"} <= set(ignored)
