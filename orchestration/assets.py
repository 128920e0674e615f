"""The Airflow Assets that connect the DAGs: raw batches per dataset, then facts, KPIs and alerts."""

from __future__ import annotations

from airflow.sdk import Asset

from core.catalog import DATASETS, Dataset


def raw_asset(dataset: Dataset) -> Asset:
    return Asset(name=dataset.asset_name, group="qualitypulse-raw")


RAW_ASSETS: tuple[Asset, ...] = tuple(raw_asset(d) for d in DATASETS)
WAREHOUSE_FACTS = Asset(name="qualitypulse.warehouse.facts", group="qualitypulse-warehouse")
KPI_TABLES = Asset(name="qualitypulse.warehouse.kpi_daily", group="qualitypulse-warehouse")
ALERTS = Asset(name="qualitypulse.warehouse.alerts", group="qualitypulse-warehouse")
