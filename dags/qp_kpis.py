"""
### QualityPulse KPIs and regressions

Runs when the warehouse facts change: rebuilds the daily KPI tables (every row with its numerator and
denominator), then judges the KPI history by the rules of ``alerts/rules.yaml`` (control charts with Western
Electric rules, targets, drops against a trailing in-control baseline), opens, updates and resolves one alert
per regression, each naming the KPI, the place, the day it began, the value, the bound, the rule and what drives
it; judges each registered improvement by its KPIs before and after the change, and each process step's capability
against its specification limits; builds the HTML report
(``<data>/report/index.html``) and sends the notifications the alerts owe (email, Slack,
webhooks), data-quality alerts included, each linking to its alert in the report.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from airflow.task.trigger_rule import TriggerRule

from core.settings import get_settings
from orchestration.assets import alerts, kpi_tables, warehouse_facts
from orchestration.dag_defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL, deadline_alert


@dag(
    dag_id="qp_kpis",
    schedule=[warehouse_facts(get_settings())],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert(get_settings().kpis_deadline_minutes),  # not done this long after queued: notify
    tags=["qualitypulse", "kpi", "alerts"],
    doc_md=__doc__,
)
def qp_kpis() -> None:
    settings = get_settings()  # parsing: the Assets' URIs

    @task(outlets=[kpi_tables(settings)], pool=WAREHOUSE_POOL)
    def build_kpis() -> int:
        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.kpis import build_kpis

        report_lineage(lineage.of_kpis(get_settings()))
        return build_kpis(get_current_context()["run_id"], get_settings())

    @task(outlets=[alerts(settings)], pool=WAREHOUSE_POOL)
    def check_regressions() -> int:
        from core.settings import get_settings
        from orchestration.connections import configured_channels
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.alerting import check_regressions

        report_lineage(lineage.of_regressions(get_settings()))
        return len(check_regressions(get_current_context()["run_id"], get_settings(), configured_channels))

    @task(pool=WAREHOUSE_POOL)
    def judge_improvements() -> int:
        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.improvements import evaluate_improvements

        report_lineage(lineage.of_improvements(get_settings()))
        return evaluate_improvements(get_settings())

    @task(pool=WAREHOUSE_POOL)
    def judge_capability() -> int:
        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.capability import build_capability

        report_lineage(lineage.of_capability(get_settings()))
        return build_capability(get_settings())

    @task
    def build_report() -> str:
        from core.settings import get_settings
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from report.build import build_report, default_range

        settings = get_settings()
        report_lineage(lineage.of_report(settings))
        return str(build_report(settings, *default_range(settings)))

    # Its own task: a channel that is down leaves notifications pending (retried next run) and fails nothing.
    # It runs even if the report failed: an alert matters more than its link.
    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ALL_DONE)
    def send_notifications() -> dict[str, int]:
        from core.settings import get_settings
        from orchestration.connections import configured_channels
        from orchestration.lineage import report_lineage
        from pipeline import lineage
        from pipeline.alerting import send_notifications

        report_lineage(lineage.of_notifications(get_settings()))
        delivery = send_notifications(get_settings(), configured_channels)
        return {"sent": delivery.sent, "pending": delivery.pending}

    report = build_report()
    kpis = build_kpis()
    kpis >> [check_regressions(), judge_improvements(), judge_capability()] >> report
    report >> send_notifications()


qp_kpis()
