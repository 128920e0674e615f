"""The Airflow Assets that connect the DAGs: raw batches per dataset, then facts, KPIs and alerts.

Each Asset is known by its name alone (its URI is the name). A URI naming the data itself (the landing folder, the
warehouse table) would change with ``QP_DATA_DIR`` and ``QP_WAREHOUSE_URL``, and Airflow hands an Asset's name over
to a new URI only in the scheduler's orphanage pass: in-process runs (``make run``, the tests) then fail on an
inactive Asset. The data the tasks read and write reaches lineage tools through the OpenLineage events each task
sends (``orchestration/lineage.py``, named by ``pipeline/lineage.py``).
"""

from __future__ import annotations

from airflow.sdk import Asset

from core.catalog import DATASETS, Dataset


def raw_asset(dataset: Dataset) -> Asset:
    """A dataset's raw batches in the landing zone."""
    return Asset(name=dataset.asset_name, group="qualitypulse-raw")


RAW_ASSETS: tuple[Asset, ...] = tuple(raw_asset(d) for d in DATASETS)
WAREHOUSE_FACTS = Asset(name="qualitypulse.warehouse.facts", group="qualitypulse-warehouse")
KPI_TABLES = Asset(name="qualitypulse.warehouse.kpi_daily", group="qualitypulse-warehouse")
ALERTS = Asset(name="qualitypulse.warehouse.alerts", group="qualitypulse-warehouse")
