"""What each stage of the pipeline reads and writes, as lineage datasets named the way OpenLineage names them.

A dataset is a namespace (where: a database server, a file system, an API's host) and a name (what there):
``postgres://db:5432`` + ``qms.public.defects``, ``file`` + ``/data/landing/qms/defects``. Airflow's Assets take
their URIs from the same datasets (``orchestration/assets.py``) and each task reports its inputs and outputs from
here (``orchestration/lineage.py``), so the graph a lineage tool (Marquez) draws and the Assets Airflow schedules
on name the same things: source tables and API endpoints -> the landing zone's batches -> the warehouse's fact
tables -> its KPI tables -> alerts -> the report and the notifications.

Locations come from the settings a task runs with (Airflow connections included); credentials never reach a name.
Pure: no database, file or network is touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.catalog import BY_NAME, DATASETS, Dataset
from core.settings import Settings

DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}


@dataclass(frozen=True)
class LineageDataset:
    """One dataset: OpenLineage's namespace and name, and the Airflow Asset URI of the same thing."""

    namespace: str
    name: str
    uri: str


@dataclass(frozen=True)
class Lineage:
    """What one task reads and writes."""

    inputs: tuple[LineageDataset, ...] = ()
    outputs: tuple[LineageDataset, ...] = ()


def file_dataset(path: Path | str) -> LineageDataset:
    """A file or folder: namespace ``file``, its absolute path (what Airflow's ``file://`` Assets translate to)."""
    absolute = os.path.abspath(path)
    return LineageDataset("file", absolute, f"file://{absolute}")


def table_dataset(database_url: str, table: str) -> LineageDataset:
    """A table of the database at a SQLAlchemy URL.

    PostgreSQL (and other servers): namespace ``postgres://host:port``, name ``database.schema.table``, URI
    ``postgres://host:port/database/schema/table`` (the form the Airflow postgres provider translates the same way).
    SQLite: namespace ``sqlite://localhost<absolute path of the file>``, name ``main.table`` (a URI with no host
    would not survive Airflow's normalisation of Asset URIs: ``sqlite:///x`` becomes ``sqlite:/x``).
    """
    parts = urlsplit(database_url)
    backend = parts.scheme.split("+")[0].lower()
    if backend == "sqlite":
        path = database_url.split("://", 1)[1][1:]  # sqlite:///relative.db, sqlite:////absolute.db
        namespace = f"sqlite://localhost{os.path.abspath(path) if path else '/:memory:'}"
        return LineageDataset(namespace, f"main.{table}", f"{namespace}/main/{table}")
    if backend == "postgresql":
        backend = "postgres"
    host, port = parts.hostname or "localhost", parts.port or DEFAULT_PORTS.get(backend)
    namespace = f"{backend}://{host}:{port}" if port else f"{backend}://{host}"
    database = parts.path.strip("/")
    parts_of_name = [database, "public", table] if backend == "postgres" else [database, table]
    return LineageDataset(namespace, ".".join(parts_of_name), f"{namespace}/{'/'.join(parts_of_name)}")


def api_dataset(base_url: str, resource: str) -> LineageDataset:
    """An HTTP API's resource: namespace ``scheme://host:port``, name the resource's path."""
    parts = urlsplit(base_url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    namespace = f"{scheme}://{parts.hostname or 'localhost'}:{port}"
    name = f"{parts.path.rstrip('/')}/{resource}"
    return LineageDataset(namespace, name, f"{namespace}{name}")


def source(settings: Settings, dataset: Dataset) -> LineageDataset:
    """Where a dataset is extracted from: its source table, API resource or file-drop folder."""
    if dataset.source == "qms":
        return table_dataset(settings.qms_url, dataset.name)
    if dataset.source == "finance":
        return table_dataset(settings.finance_url, dataset.name)
    if dataset.source == "lms":
        return api_dataset(settings.lms_api_url, dataset.name)
    return file_dataset(settings.survey_drop_dir)


def landing(settings: Settings, dataset: Dataset) -> LineageDataset:
    """The landing zone's folder of a dataset's raw batches."""
    return file_dataset(settings.landing_dir / dataset.source / dataset.name)


def warehouse_table(settings: Settings, table: str) -> LineageDataset:
    return table_dataset(settings.warehouse_url, table)


def report(settings: Settings) -> LineageDataset:
    return file_dataset(settings.data_dir / "report" / "index.html")


# What the stages read and write in the warehouse, besides each dataset's own table.
LEDGER, QUARANTINE = "batch_ledger", "quarantine"
KPI_TABLES = ("kpi_daily", "kpi_period")
ALERT_TABLES = ("alert", "incident")


def _tables(settings: Settings, *names: str) -> tuple[LineageDataset, ...]:
    return tuple(warehouse_table(settings, name) for name in names)


def of_ingest(settings: Settings, dataset_name: str) -> Lineage:
    """Extract and land: the source -> the landing zone."""
    dataset = BY_NAME[dataset_name]
    return Lineage((source(settings, dataset),), (landing(settings, dataset),))


def of_load(settings: Settings, dataset_name: str) -> Lineage:
    """Validate and load: the landing zone -> the dataset's table, its quarantined rows and the ledger's counts."""
    dataset = BY_NAME[dataset_name]
    return Lineage((landing(settings, dataset),), _tables(settings, dataset.fact_table, QUARANTINE, LEDGER))


def of_publish(settings: Settings) -> Lineage:
    """Replay orphans and publish: the quarantine -> the ledger (the warehouse facts Asset)."""
    return Lineage(_tables(settings, QUARANTINE), _tables(settings, LEDGER))


def of_kpis(settings: Settings) -> Lineage:
    """Build the KPI tables from every loaded table, for the days the ledger says changed."""
    loaded = sorted({d.fact_table for d in DATASETS})
    return Lineage(_tables(settings, LEDGER, *loaded), _tables(settings, *KPI_TABLES))


def of_regressions(settings: Settings) -> Lineage:
    """Judge the KPIs: the KPI tables -> alerts and incidents."""
    return Lineage(_tables(settings, *KPI_TABLES), _tables(settings, *ALERT_TABLES))


def of_improvements(settings: Settings) -> Lineage:
    return Lineage(_tables(settings, *KPI_TABLES), _tables(settings, "improvement_effect"))


def of_capability(settings: Settings) -> Lineage:
    return Lineage(_tables(settings, "fact_production_run"), _tables(settings, "process_capability"))


def of_report(settings: Settings) -> Lineage:
    """The HTML report, from the KPIs, the alerts and the judgements (through the BI views over them)."""
    tables = _tables(settings, *KPI_TABLES, *ALERT_TABLES, "improvement_effect", "process_capability")
    return Lineage(tables, (report(settings),))


def of_notifications(settings: Settings) -> Lineage:
    """Send what the alerts owe: alerts, incidents and data-quality alerts -> the notification outbox."""
    return Lineage(_tables(settings, *ALERT_TABLES, "data_quality_alert"), _tables(settings, "notification"))
