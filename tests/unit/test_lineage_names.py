"""Lineage dataset names: OpenLineage's conventions, the Asset URIs beside them, and never a credential."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import Asset

from core.catalog import BY_NAME
from core.settings import Settings
from pipeline import lineage

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "namespace", "name", "uri"),
    [
        (
            "postgresql+psycopg://qp:s3cret@warehouse:5433/qualitypulse",
            "postgres://warehouse:5433",
            "qualitypulse.public.kpi_daily",
            "postgres://warehouse:5433/qualitypulse/public/kpi_daily",
        ),
        (
            "postgresql://qp@db/qualitypulse",
            "postgres://db:5432",
            "qualitypulse.public.kpi_daily",
            "postgres://db:5432/qualitypulse/public/kpi_daily",
        ),
        (
            "sqlite:////srv/qp/warehouse/qualitypulse.db",
            "sqlite://localhost/srv/qp/warehouse/qualitypulse.db",
            "main.kpi_daily",
            "sqlite://localhost/srv/qp/warehouse/qualitypulse.db/main/kpi_daily",
        ),
    ],
)
def test_a_table_is_named_by_its_server_database_schema_and_table(url, namespace, name, uri):
    dataset = lineage.table_dataset(url, "kpi_daily")

    assert (dataset.namespace, dataset.name, dataset.uri) == (namespace, name, uri)
    assert "s3cret" not in str(dataset)
    # The Airflow Asset of the table keeps the URI as given: Airflow and lineage name it alike.
    assert Asset(name="qualitypulse.warehouse.kpi_daily", uri=dataset.uri).uri == uri


def test_each_kind_of_source_has_its_own_dataset(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        qms_url="postgresql://qms:pw@qms-db:5432/qms",
        finance_url="postgresql://qms:pw@qms-db:5432/finance",
        lms_api_url="https://lms.example.com/api/v1",
    )

    assert lineage.source(settings, BY_NAME["defects"]).name == "qms.public.defects"
    assert lineage.source(settings, BY_NAME["cost_ledger"]).name == "finance.public.cost_ledger"
    api = lineage.source(settings, BY_NAME["training_assignments"])
    assert (api.namespace, api.name) == ("https://lms.example.com:443", "/api/v1/training_assignments")
    drops = lineage.source(settings, BY_NAME["feedback"])
    assert (drops.namespace, drops.name) == ("file", str(settings.survey_drop_dir))
    landed = lineage.landing(settings, BY_NAME["defects"])
    assert (landed.namespace, landed.uri) == ("file", f"file://{tmp_path}/landing/qms/defects")
    assert Asset(name="qualitypulse.raw.defects", uri=landed.uri).uri == landed.uri
    assert "pw" not in str(lineage.of_ingest(settings, "defects"))


def test_the_stages_connect_source_landing_facts_kpis_alerts(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    ingest, load = lineage.of_ingest(settings, "defects"), lineage.of_load(settings, "defects")
    kpis, regressions = lineage.of_kpis(settings), lineage.of_regressions(settings)

    assert ingest.outputs[0] in load.inputs
    assert lineage.warehouse_table(settings, "fact_defect") in set(load.outputs) & set(kpis.inputs)
    assert set(kpis.outputs) <= set(regressions.inputs)
    assert lineage.warehouse_table(settings, "alert") in set(regressions.outputs) & set(
        lineage.of_report(settings).inputs
    )
