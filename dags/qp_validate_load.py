"""
### QualityPulse validate and load

Runs whenever any raw batch Asset is updated. Every landed batch in the ledger is validated with its Great
Expectations suite; valid rows are loaded into the warehouse facts, failing rows go to quarantine with every
rule they broke, exact re-sends are counted as duplicates, and the batch's counts are written to the ledger,
all in one transaction per batch.
"""

from __future__ import annotations

from airflow.sdk import AssetAny, dag, task

from qualitypulse.assets import RAW_ASSETS, WAREHOUSE_FACTS
from qualitypulse.dag_defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL


@dag(
    dag_id="qp_validate_load",
    schedule=AssetAny(*RAW_ASSETS),  # any one source's new batch is enough
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one writer per batch
    default_args=DEFAULT_ARGS,
    tags=["qualitypulse", "validate", "load"],
    doc_md=__doc__,
)
def qp_validate_load() -> None:
    @task(outlets=[WAREHOUSE_FACTS], pool=WAREHOUSE_POOL)
    def validate_and_load() -> list[dict[str, object]]:
        from dataclasses import asdict

        from airflow.sdk.exceptions import AirflowSkipException

        from qualitypulse.pipeline import validate_and_load
        from qualitypulse.settings import get_settings

        reports = validate_and_load(get_settings())
        if not reports:
            raise AirflowSkipException("no landed batch to validate")  # and no facts event downstream
        return [asdict(r) for r in reports]

    validate_and_load()


qp_validate_load()
