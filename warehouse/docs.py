"""Generate ``docs/warehouse.md`` from the schema and the BI view definitions, so the document cannot drift."""

from __future__ import annotations

from sqlalchemy import Table, UniqueConstraint

from core.kpi_registry import REGISTRY, Registry
from warehouse.bi_views import VIEWS
from warehouse.schema import metadata

# Grain and purpose of each table: the one thing the schema itself can't say.
TABLE_DOCS: dict[str, tuple[str, str]] = {
    "dim_product": ("one row per product", "Products from the QMS, with defect opportunities per unit (for DPMO)."),
    "dim_site": ("one row per site", "Plants, from the QMS."),
    "dim_line": ("one row per production line", "Lines, their site, and the email of the person who owns the line."),
    "dim_process_step": ("one row per process step", "Process steps and their place in a route."),
    "dim_defect_code": ("one row per defect code", "Defect codes with their category, for Paretos by category."),
    "dim_customer": ("one row per customer account", "Customers, their site and segment, acquired and churned dates."),
    "fact_complaint": ("one row per customer complaint", "Complaints from the QMS, with line and defect code."),
    "fact_cost_ledger": ("one row per quality cost entry", "Quality costs by PAF category, from finance."),
    "fact_shipment": (
        "one row per shipment",
        "Units shipped and revenue, for complaint rates and COPQ share of revenue.",
    ),
    "dim_employee": ("one row per employee", "The HR roster: site, line, role, hire and leaving dates."),
    "dim_course": ("one row per course", "LMS courses: hours, pass mark and how long a completion stays valid."),
    "dim_role_requirement": ("one row per role and required course", "Which courses each role must hold."),
    "fact_production_run": (
        "one row per production run: a lot through one process step on one line and shift",
        "Units entered, passed first time, reworked, scrapped, inspected and defective; OEE inputs.",
    ),
    "fact_defect": ("one row per run and defect code", "Defects booked against a production run."),
    "fact_feedback": ("one row per survey response", "Customer feedback: NPS (0..10) and CSAT (1..5) scores."),
    "fact_training_assignment": ("one row per training assignment", "LMS assignments, due and completion dates."),
    "batch_ledger": ("one row per landed batch", "Where every source row went: loaded, quarantined or duplicate."),
    "source_watermark": ("one row per incrementally extracted dataset", "The newest change already extracted."),
    "source_file": ("one row per file taken from a drop folder", "Checksums of taken files: re-deliveries skip."),
    "extraction_event": (
        "one row per thing extraction noticed",
        "Skipped re-deliveries, refused or broken files, new source columns, sources that stayed down.",
    ),
    "quarantine": ("one row per quarantined source row", "Rows held back, every rule they broke, the raw record."),
    "fact_deletion": (
        "one row per fact row removed because its source deleted it",
        "Rows deleted at the source (a hard delete, an API record gone or flagged deleted), as they were.",
    ),
    "validation_result": ("one row per expectation per batch", "Great Expectations results, for data quality trends."),
    "kpi_daily": (
        "one row per KPI, day and company / site / line / step",
        "Daily KPIs with numerator and denominator; rollups sum them.",
    ),
    "kpi_period": (
        "one row per KPI, week or month, and company / site / line / step",
        "Weekly and monthly KPIs from summed daily counts.",
    ),
    "fact_customer_snapshot": (
        "one row per customer account and day while it exists",
        "Daily account snapshots: active at the day's end, new that day, churned that day.",
    ),
    "dim_date": ("one row per calendar day that has KPIs", "Calendar attributes to slice KPIs by: ISO week, month."),
    "training_outcomes": (
        "one row per line and week or month",
        "Training next to yield, DPMO and complaints, with their trailing correlation.",
    ),
    "alert": (
        "one row per regression: a rule at a place, from the day it began",
        "Regression alerts (alerts/rules.yaml) with their lifecycle: open, acknowledged, resolved.",
    ),
    "incident": (
        "one row per incident: the alerts of one site that overlap in time",
        "Alerts grouped by site and time (alerts/incidents.py), notified as one digest: open until every member "
        "resolves.",
    ),
    "spc_point": (
        "one row per rule, place and judged day",
        "The control charts as the regression rules saw them: each day's value, centre line, limits and verdict.",
    ),
    "notification": (
        "one row per incident digest (opened, updated, resolved) or data-quality alert event, and channel",
        "The notification outbox: pending until the channel takes it, then sent, never twice.",
    ),
    "kpi_hold": (
        "one row per KPI family, day and blocked batch",
        "KPI days withheld while a batch they depend on is blocked; released when it is resolved.",
    ),
    "data_quality_alert": (
        "one row per data-quality alert",
        "Validation warnings and blocked batches as alerts with a lifecycle: open, then resolved.",
    ),
    "source_freshness": (
        "one row per dataset",
        "Each dataset's newest delivery against its freshness deadline, as the latest ingest run judged it.",
    ),
    "improvement": (
        "one row per registered change",
        "Improvements whose effect is judged: a name, the day of the change, its scope and KPIs.",
    ),
    "improvement_effect": (
        "one row per improvement and KPI",
        "Each improvement's KPIs before and after the change: staged limits, the difference with its test, the money.",
    ),
    "alert_note": ("one row per note on an alert", "What was found and done about an alert (qp alerts note)."),
    "baseline_exclusion": (
        "one row per rule, place and excluded day",
        "Days a person took out of a rule's baselines (qp alerts exclude), with who and why.",
    ),
    "process_capability": (
        "one row per product, process step, characteristic and month",
        "Process capability (Cp, Cpk, Cpm, Pp, Ppk) against the specification limits of QP_CAPABILITY_SPECS.",
    ),
    "training_lead": (
        "one row per line, leading KPI and outcome KPI",
        "How closely a line's outcome has followed its training, and after how many days (the leading alert's basis).",
    ),
    "alembic_version": ("one row", "The schema revision the warehouse is at."),
}


_ROLLS_UP = {
    "ratio": "sum numerator and denominator",
    "amount": "sum",
    "route_product": "product of the step FPYs",
    "quantile": "from the facts (a quantile of quantiles is not one)",
    "window": "from the period's own start and end",
}


_CHARTS = {"p_chart": "p-chart", "u_chart": "u-chart", "imr": "individuals chart"}


def render(registry: Registry = REGISTRY) -> str:
    lines = [
        "# The QualityPulse warehouse",
        "",
        "Generated by `qp docs` from `warehouse/schema.py` and `warehouse/bi_views.py`; do not edit by hand",
        "(a test fails when this file and the schema differ). Timestamps are UTC. Ratios are fractions 0..1, NPS",
        "is on -100..100, and a ratio with a zero denominator is NULL (`../shared/KPIS.md`).",
        "",
        "## BI views",
        "",
        "BI tools read these. On PostgreSQL they are in the schema `bi` (`bi.kpi_daily`), which the read-only role",
        "created by `qp bi-role` can read; on SQLite they are named with a `bi_` prefix (`bi_kpi_daily`).",
        "",
    ]
    for view in VIEWS:
        lines += [
            f"### {view.name}",
            "",
            f"{view.description} Grain: {view.grain}.",
            "",
            "| column | meaning |",
            "| --- | --- |",
        ]
        lines += [f"| `{column}` | {comment} |" for column, comment in view.columns.items()]
        lines.append("")
    lines += _kpi_catalog(registry)
    lines += ["## Tables", ""]
    for name in sorted(metadata.tables):
        lines += _table(metadata.tables[name])
    return "\n".join(lines).rstrip() + "\n"


def _kpi_catalog(registry: Registry) -> list[str]:
    """Every KPI of the registry (``core/kpi_registry.py``): what its rows mean and how to roll them up."""
    lines = [
        "## KPI catalog",
        "",
        "The `kpi_name` of the KPI tables and views, from the KPI registry (`core/kpi_registry.py`); the formulas",
        "are those of `../shared/KPIS.md`. A value is numerator / denominator (times the scale shown) unless the",
        "formula column says otherwise; rows at coarser grains and longer periods roll up as the last column says.",
        "",
    ]
    for family in registry.families:
        lines += [
            f"### {family.name}",
            "",
            f"{family.description[0].upper()}{family.description[1:]}.",
            "",
            "| KPI | meaning | unit | better | numerator | denominator | formula | grains | rolls up | charted as |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kpi in registry:
            if kpi.family != family.name:
                continue
            denominator = f"{kpi.denominator.counts} (`{kpi.denominator.dataset}`)" if kpi.denominator else "1"
            formula = kpi.derived or (f"x {kpi.scale:,.0f}" if kpi.scale != 1 else "")
            lines.append(
                f"| `{kpi.code}` | {kpi.label}: {kpi.description} | {kpi.unit_words} | "
                f"{'higher' if kpi.higher_is_better else 'lower'} | "
                f"{kpi.numerator.counts} (`{kpi.numerator.dataset}`) | {denominator} | {formula} | "
                f"{', '.join(kpi.grains)} | {_ROLLS_UP[kpi.additivity]} | {_CHARTS[kpi.chart]} |"
            )
        lines.append("")
    return lines


def _table(table: Table) -> list[str]:
    grain, purpose = TABLE_DOCS[table.name]
    lines = [
        f"### {table.name}",
        "",
        f"{purpose} Grain: {grain}.",
        "",
        "| column | type | null | key |",
        "| --- | --- | --- | --- |",
    ]
    indexed = {c.name for index in table.indexes for c in index.columns}
    for column in table.columns:
        key = "PK" if column.primary_key else ("indexed" if column.name in indexed else "")
        lines.append(f"| `{column.name}` | {column.type} | {'yes' if column.nullable else 'no'} | {key} |")
    unique = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    for constraint in unique:
        lines.append(f"\nUnique: {', '.join(c.name for c in constraint.columns)}.")
    lines.append("")
    return lines
