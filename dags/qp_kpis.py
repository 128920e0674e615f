"""
### QualityPulse KPIs and regressions

Runs when the warehouse facts change: rebuilds the daily KPI tables (every row with its numerator and
denominator), then judges each line's fraction defective on a p-chart (Western Electric rule 1 against a
trailing in-control baseline) and raises alerts that name the line, the day, the limit and the top defect codes.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from qualitypulse.assets import ALERTS, KPI_TABLES, WAREHOUSE_FACTS
from qualitypulse.dag_defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL


@dag(
    dag_id="qp_kpis",
    schedule=[WAREHOUSE_FACTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["qualitypulse", "kpi", "alerts"],
    doc_md=__doc__,
)
def qp_kpis() -> None:
    @task(outlets=[KPI_TABLES], pool=WAREHOUSE_POOL)
    def build_kpis() -> int:
        from qualitypulse.pipeline import build_kpis
        from qualitypulse.settings import get_settings

        return build_kpis(get_current_context()["run_id"], get_settings())

    @task(outlets=[ALERTS], pool=WAREHOUSE_POOL)
    def check_regressions() -> int:
        from qualitypulse.pipeline import check_regressions
        from qualitypulse.settings import get_settings

        return len(check_regressions(get_current_context()["run_id"], get_settings()))

    build_kpis() >> check_regressions()


qp_kpis()
