"""
### QualityPulse validate and load

Runs whenever any raw batch Asset is updated. Every landed batch in the ledger is validated with its Great
Expectations suite; valid rows are loaded into the warehouse facts, failing rows go to quarantine with every
rule they broke, exact re-sends are counted as duplicates, and the batch's counts are written to the ledger,
all in one transaction per batch.

The work fans out with dynamic task mapping, one mapped task per dataset with waiting batches, so the executor's
workers (Celery, Kubernetes) share it: dimensions first, then facts, so the facts' referential checks see the
keys that arrived with them. One dataset's batches stay in order in one task. The pool ``qp_warehouse`` bounds
how many write at once (one slot for an SQLite warehouse; more on PostgreSQL). Last, rows quarantined only for a
key that a new dimension brought are replayed, and the warehouse facts Asset is updated if anything loaded.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import AssetAny, dag, task
from airflow.task.trigger_rule import TriggerRule

from core.settings import get_settings
from orchestration.assets import raw_assets, warehouse_facts
from orchestration.dag_defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL

Report = dict[str, Any]


@dag(
    dag_id="qp_validate_load",
    schedule=AssetAny(*raw_assets(get_settings())),  # any one source's new batch is enough
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one writer per dataset
    default_args=DEFAULT_ARGS,
    tags=["qualitypulse", "validate", "load"],
    doc_md=__doc__,
)
def qp_validate_load() -> None:
    @task
    def waiting_datasets(kind: str) -> list[str]:
        from core.settings import get_settings
        from pipeline.load import pending_datasets

        dimensions, facts = pending_datasets(get_settings())
        return dimensions if kind == "dimensions" else facts

    @task(pool=WAREHOUSE_POOL, map_index_template="{{ dataset }}")
    def validate_and_load(dataset: str) -> list[Report]:
        from dataclasses import asdict

        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.load import validate_and_load

        settings = get_settings()
        report_lineage(lineage.of_load(settings, dataset))
        return [asdict(r) for r in validate_and_load(settings, datasets={dataset}, replay_orphaned=False)]

    @task(outlets=[warehouse_facts(get_settings())], pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED)
    def replay_orphans_and_publish(dimension_reports: list[list[Report]], fact_reports: list[list[Report]]) -> int:
        from airflow.sdk.exceptions import AirflowSkipException

        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.load import BatchReport, kpis_waiting, replay_orphans

        report_lineage(lineage.of_publish(get_settings()))
        reports = [BatchReport(**r) for group in [*(dimension_reports or []), *(fact_reports or [])] for r in group]
        reports += replay_orphans(reports, get_settings())
        loaded = sum(r.status == "loaded" for r in reports)
        # KPI days a crashed build left pending are news for the KPI DAG too.
        if not loaded and not kpis_waiting(get_settings()):
            raise AirflowSkipException("no batch loaded")  # and no facts event downstream
        return loaded

    dimensions = validate_and_load.override(task_id="validate_and_load_dimensions").expand(
        dataset=waiting_datasets.override(task_id="waiting_dimensions")("dimensions")
    )
    # Facts wait for every dimension, and also run when there was none to load (an empty mapping is skipped).
    facts = validate_and_load.override(task_id="validate_and_load_facts", trigger_rule=TriggerRule.NONE_FAILED).expand(
        dataset=waiting_datasets.override(task_id="waiting_facts")("facts")
    )
    dimensions >> facts
    replay_orphans_and_publish(dimensions, facts)  # type: ignore[arg-type]  # XComArgs resolve at run time


qp_validate_load()
