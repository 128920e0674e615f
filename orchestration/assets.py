"""The Airflow Assets that connect the DAGs: raw batches per dataset, then facts, KPIs and alerts.

Each Asset keeps its name (what the DAGs and the runner refer to) and is given the URI of the data it stands for,
from the same lineage datasets the tasks report (``pipeline/lineage.py``): a dataset's raw batches are its folder
in the landing zone (``file://``, which Airflow's OpenLineage provider translates itself), the warehouse Assets
are tables (``postgres://host:port/database/schema/table``, or ``sqlite://localhost<file>/main/<table>``). So Airflow's
Asset view and a lineage tool (Marquez) agree on what was produced where. The URIs depend on where the data lives
(``QP_DATA_DIR``, ``QP_WAREHOUSE_URL``), read from the environment while parsing, as the watchers are; credentials
never reach a URI. When they move, Airflow hands each name over to its new URI in the scheduler's orphanage pass;
the in-process runner (``make run``, the tests) runs the same pass before each run (``orchestration/runner.py``).
"""

from __future__ import annotations

from airflow.sdk import Asset

from core.catalog import DATASETS, Dataset
from core.settings import Settings
from pipeline import lineage

FACTS_NAME = "qualitypulse.warehouse.facts"
KPI_TABLES_NAME = "qualitypulse.warehouse.kpi_daily"
ALERTS_NAME = "qualitypulse.warehouse.alerts"


def raw_asset(dataset: Dataset, settings: Settings) -> Asset:
    """A dataset's raw batches: its folder in the landing zone."""
    return Asset(name=dataset.asset_name, uri=lineage.landing(settings, dataset).uri, group="qualitypulse-raw")


def raw_assets(settings: Settings) -> tuple[Asset, ...]:
    return tuple(raw_asset(d, settings) for d in DATASETS)


def warehouse_facts(settings: Settings) -> Asset:
    """Batches loaded into the warehouse: the batch ledger, which records each load and the KPI days it touched."""
    uri = lineage.warehouse_table(settings, lineage.LEDGER).uri
    return Asset(name=FACTS_NAME, uri=uri, group="qualitypulse-warehouse")


def kpi_tables(settings: Settings) -> Asset:
    uri = lineage.warehouse_table(settings, lineage.KPI_TABLES[0]).uri
    return Asset(name=KPI_TABLES_NAME, uri=uri, group="qualitypulse-warehouse")


def alerts(settings: Settings) -> Asset:
    uri = lineage.warehouse_table(settings, lineage.ALERT_TABLES[0]).uri
    return Asset(name=ALERTS_NAME, uri=uri, group="qualitypulse-warehouse")
