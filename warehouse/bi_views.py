"""The views BI tools read: readable names, one grain each, every column commented.

On PostgreSQL they live in the ``bi`` schema (``bi.kpi_daily``), which a read-only role can be granted alone; on
SQLite, which has no schemas, they carry a ``bi_`` prefix (``bi_kpi_daily``). Views hold no data, so they are
not versioned revisions: ``qp migrate`` re-creates all of them after the Alembic revisions (a repeatable
migration), and this module is their single definition, also the source of ``docs/warehouse.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from core.catalog import DATASETS
from core.dialect import BI_SCHEMA, dialect_of, driver_connection
from core.kpi_registry import REGISTRY
from transforms.kpi_tables import CROSS_SOURCE_KPIS


@dataclass(frozen=True)
class View:
    name: str
    grain: str
    description: str
    columns: dict[str, str]  # column -> comment, in select order
    sql: str


def qualified(name: str, bind: Connection | Engine | str) -> str:
    """The BI view's name on ``bind``'s database (a schema on PostgreSQL, a prefix on SQLite)."""
    return dialect_of(bind).view_name(name)


def _union_of_loaded_rows() -> str:
    """Each fact dataset's rows in the warehouse per day of their event date, as one union (from the catalog)."""
    return "\n    union all\n".join(
        f"    select '{d.name}' as dataset, day_of({d.event_date}) as data_day, count(*) as rows_loaded\n"
        f"    from {d.fact_table}\n    group by day_of({d.event_date})"
        for d in DATASETS
        if d.event_date and not d.is_dimension
    )


_KPI_COLUMNS = {
    "kpi_name": "KPI code, from the KPI registry; the KPI catalog below gives each one's unit, numerator, "
    "denominator and how it rolls up",
    "grain": "company, site, line or step: the level the row aggregates",
    "site": "site id, or ALL on a company row",
    "line": "line id, or ALL above line level",
    "process_step": "process step id, or ALL above step level",
    "numerator": "summed numerator (e.g. first-pass units for FPY); roll up by summing",
    "denominator": "summed denominator (e.g. units entered for FPY); roll up by summing",
    "kpi_value": "the KPI: a fraction 0..1 for ratios, -100..100 for NPS, DPMO per million, sigma level; "
    "NULL when the denominator is zero",
    "pipeline_run_id": "the pipeline run that computed the row (lineage)",
}


def _kpi_view_sql(source: str, date_column: str, date_alias: str) -> str:
    """The KPI views differ only in their source rows and the name of their date."""
    return f"""
with source as (
    select * from {source}
),

final as (
    select
        kpi as kpi_name,
        {date_column} as {date_alias},
        grain,
        site_id as site,
        line_id as line,
        step_id as process_step,
        numerator,
        denominator,
        value as kpi_value,
        pipeline_run_id
    from source
)

select * from final
"""


# Each alert with its place's owner, its notes and its response times: what both alert-response views read.
_ALERT_RESPONSES = """
with alerts as (
    select * from alert
),

owners as (
    select line_id, max(owner_email) as owner_email from dim_line group by line_id
),

notes as (
    select alert_id, count(*) as notes from alert_note group by alert_id
),

responses as (
    select
        alerts.alert_id,
        alerts.kpi as kpi_name,
        alerts.severity,
        alerts.site_id as site,
        alerts.line_id as line,
        coalesce(owners.owner_email, alerts.assignee, 'unassigned') as owner,
        alerts.assignee,
        alerts.cause_code,
        alerts.action_code,
        coalesce(notes.notes, 0) as notes,
        alerts.status as alert_status,
        alerts.raised_at,
        alerts.acknowledged_at,
        alerts.resolved_at,
        hours_between(alerts.raised_at, alerts.acknowledged_at) as hours_to_acknowledge,
        hours_between(alerts.raised_at, alerts.resolved_at) as hours_to_resolve
    from alerts
    left join owners
        on owners.line_id = alerts.line_id
    left join notes
        on notes.alert_id = alerts.alert_id
),"""


VIEWS: tuple[View, ...] = (
    View(
        name="kpi_daily",
        grain="one row per KPI, day and company / site / line / step",
        description="Daily KPI values with their numerator and denominator.",
        columns={
            "kpi_name": _KPI_COLUMNS["kpi_name"],
            "kpi_day": "the day the KPI describes",
            **{k: v for k, v in _KPI_COLUMNS.items() if k != "kpi_name"},
        },
        sql=_kpi_view_sql("kpi_daily", "kpi_date", "kpi_day"),
    ),
    View(
        name="kpi_weekly",
        grain="one row per KPI, ISO week and company / site / line / step",
        description="Weekly KPI values from the summed daily counts (never an average of daily values).",
        columns={
            "kpi_name": _KPI_COLUMNS["kpi_name"],
            "week_start": "the Monday that starts the ISO week",
            **{k: v for k, v in _KPI_COLUMNS.items() if k != "kpi_name"},
        },
        sql=_kpi_view_sql("kpi_period where period = 'week'", "period_start", "week_start"),
    ),
    View(
        name="kpi_monthly",
        grain="one row per KPI, calendar month and company / site / line / step",
        description="Monthly KPI values from the summed daily counts (never an average of daily values).",
        columns={
            "kpi_name": _KPI_COLUMNS["kpi_name"],
            "month_start": "the first day of the month",
            **{k: v for k, v in _KPI_COLUMNS.items() if k != "kpi_name"},
        },
        sql=_kpi_view_sql("kpi_period where period = 'month'", "period_start", "month_start"),
    ),
    View(
        name="training_vs_outcomes",
        grain="one row per line and week or month",
        description="What the separate tools cannot show: training next to yield, DPMO and complaints per line, with "
        "the trailing correlation of compliance and FPY, so a lapse in training can be seen ahead of a fall in yield.",
        columns={
            "period": "week or month",
            "period_start": "the Monday of the week or the first of the month",
            "site": "site id",
            "line": "line id",
            **{
                column: f"the line's {REGISTRY[code].description} over the period, from summed counts"
                for code, column in CROSS_SOURCE_KPIS.items()
            },
            "compliance_fpy_correlation": "Pearson's r of compliance and FPY over the trailing 8 periods, "
            "NULL with fewer than 4",
        },
        sql="""
with source as (
    select * from training_outcomes
),

final as (
    select
        period,
        period_start,
        site_id as site,
        line_id as line,
        training_compliance,
        training_completion,
        first_pass_yield,
        dpmo,
        complaints,
        compliance_fpy_correlation
    from source
)

select * from final
""",
    ),
    View(
        name="training_leads",
        grain="one row per line, leading KPI and outcome KPI",
        description="Training as a leading indicator: after how many days a line's outcome (yield) has followed its "
        "training most closely over its history, and how strongly; where it is established, a fall of the line's "
        "training raises the leading alert before the outcome falls.",
        columns={
            "site": "site id",
            "line": "line id",
            "leading_kpi": "the leading KPI's code (training compliance)",
            "outcome_kpi": "the outcome KPI's code it leads",
            "lag_days": "the lag (0-28 days) at which the outcome followed most closely; NULL: no relation in the "
            "expected direction",
            "correlation": "Pearson's r of the leading value lag_days before each outcome day with that day's outcome",
            "p_value": "one-sided, on the effective number of pairs (autocorrelation discounted), times the lags tried",
            "pair_count": "the outcome days paired with a leading value at that lag",
            "effective_pairs": "the pairs' worth of independent information (Bretherton et al. 1999)",
            "is_established": "strong and significant enough for the rule to alert on it",
            "as_of": "the last day of the history it was estimated from",
            "computed_at": "when it was computed (UTC)",
        },
        sql="""
with source as (
    select * from training_lead
),

final as (
    select
        site_id as site,
        line_id as line,
        kpi as leading_kpi,
        outcome_kpi,
        lag_days,
        correlation,
        p_value,
        pair_count,
        effective_pairs,
        is_established,
        as_of,
        computed_at
    from source
)

select * from final
""",
    ),
    View(
        name="defect_pareto_daily",
        grain="one row per production day, site, line, process step and defect code",
        description="Defects by code where and when they were booked: the Pareto of any scope and period.",
        columns={
            "production_day": "the day of the production run the defects were found on",
            "site": "site id",
            "line": "line id",
            "process_step": "process step id",
            "defect_code": "the defect code",
            "defect_category": "the code's category in the catalogue",
            "defects": "defects booked (sum of defect counts)",
        },
        sql="""
with defects as (
    select * from fact_defect
),

runs as (
    select * from fact_production_run
),

codes as (
    select * from dim_defect_code
),

final as (
    select
        runs.production_date as production_day,
        runs.site_id as site,
        runs.line_id as line,
        runs.step_id as process_step,
        defects.defect_code,
        codes.category as defect_category,
        sum(defects.defect_count) as defects
    from defects
    join runs on runs.run_id = defects.run_id
    left join codes on codes.defect_code = defects.defect_code
    group by runs.production_date, runs.site_id, runs.line_id, runs.step_id, defects.defect_code, codes.category
)

select * from final
""",
    ),
    View(
        name="control_charts",
        grain="one row per regression rule, place and judged day",
        description=(
            "The control charts as the regression rules saw them: each judged day's value, the centre line and limits "
            "(or target, or allowed drop) from its trailing in-control baseline, and the rule that fired, if any."
        ),
        columns={
            "rule_name": "the rule in alerts/rules.yaml",
            "kpi_name": "the KPI judged",
            "method": "p_chart, u_chart, laney_p, laney_u, imr, ewma, cusum, target or drop",
            "site": "site id, or ALL",
            "line": "line id, or ALL",
            "process_step": "process step id, or ALL",
            "kpi_day": "the day judged",
            "kpi_value": "the KPI's value that day (pooled over the rule's window, if it has one); for ewma the "
            "smoothed value, for cusum the mean of the current run",
            "centre_line": "the baseline's centre line (or the target)",
            "lower_control_limit": "the lower limit for that day (for p and u charts: for that day's sample size)",
            "upper_control_limit": "the upper limit for that day",
            "sample_size": "the day's denominator (units inspected, responses, ...)",
            "rule_fired": "what fired in the adverse direction, as a code: a run rule (rule_1 .. rule_4, nelson_1 .. "
            "nelson_8, KPIS.md) or the method (target, drop, ewma, cusum, leading); empty when nothing fired",
            "is_adverse": "true when the day counts as a regression",
        },
        sql="""
with source as (
    select * from spc_point
),

final as (
    select
        rule_name,
        kpi as kpi_name,
        method,
        site_id as site,
        line_id as line,
        step_id as process_step,
        kpi_date as kpi_day,
        value as kpi_value,
        centre_line,
        lower_limit as lower_control_limit,
        upper_limit as upper_control_limit,
        sample_size,
        fired as rule_fired,
        adverse as is_adverse
    from source
)

select * from final
""",
    ),
    View(
        name="quality_alerts",
        grain="one row per alert: a regression of one KPI at one place, from the day it began",
        description=(
            "Regression alerts: what regressed, where, since when, against which limit or target, which rule "
            "fired, what drives it, and where the alert stands (open, acknowledged, resolved)."
        ),
        columns={
            "alert_id": "stable id of the alert: its rule, place and first day",
            "rule_name": "the rule in alerts/rules.yaml",
            "kpi_name": "the KPI judged",
            "method": "p_chart, u_chart, laney_p, laney_u, imr, ewma, cusum, target or drop",
            "rule_fired": "what fired on the latest adverse day, in words, e.g. 2 of the last 3 days beyond 2 sigma "
            "above the centre line 2.10% (2-sigma line 3.05%)",
            "severity": "critical, warning or info",
            "site": "site id, or ALL",
            "line": "line id, or ALL",
            "process_step": "process step id, or ALL",
            "began_on": "the first adverse day",
            "last_adverse_day": "the latest adverse day",
            "days_adverse": "adverse days so far",
            "observed_value": "the KPI's value on the latest adverse day",
            "centre_line": "the baseline's centre line (or the target)",
            "limit_crossed": "the line the fired rule judged the value against, on the adverse side: the control "
            "limit (rule 1), the 2- or 1-sigma line (rules 2, 3), the centre line (runs), the target, the baseline "
            "less the allowed drop, or the drift chart's bound",
            "sample_size": "the day's denominator (units inspected, responses, ...)",
            "contributors": "JSON: the day's top defect codes with count and share, or the segments that moved",
            "headline": "the alert in one line, as people read it everywhere: what, where, the value on its day, what "
            "fired, since when",
            "message": "the alert as sent to people: the headline, then the baseline, the sample and the drivers",
            "alert_status": "open, acknowledged or resolved",
            "resolved_on": "the day it counted as back in control",
            "acknowledged_by": "who acknowledged it",
            "raised_at": "when the pipeline raised it (UTC)",
            "assignee": "who works on it (qp alerts assign)",
            "cause_code": "the assignable cause found (qp alerts cause; the rules file's triage list)",
            "action_code": "the corrective action taken (qp alerts cause --action)",
            "incident_id": "the incident it belongs to (incidents, incident_timeline)",
        },
        sql="""
with source as (
    select * from alert
),

final as (
    select
        alert_id,
        rule_name,
        kpi as kpi_name,
        method,
        rule as rule_fired,
        severity,
        site_id as site,
        line_id as line,
        step_id as process_step,
        since_date as began_on,
        last_date as last_adverse_day,
        days_adverse,
        value as observed_value,
        centre_line,
        limit_value as limit_crossed,
        sample_size,
        contributors,
        subject as headline,
        message,
        status as alert_status,
        resolved_date as resolved_on,
        acknowledged_by,
        raised_at,
        assignee,
        cause_code,
        action_code,
        incident_id
    from source
)

select * from final
""",
    ),
    View(
        name="incidents",
        grain="one row per incident: the alerts of one site that overlap in time",
        description=(
            "Incidents: the regression alerts of one site (a line's and step's alerts belong to its site; company-wide "
            "alerts group with each other) whose active days overlap or come within incidents.gap_days, told to "
            "people as one digest per channel, open until every member resolves."
        ),
        columns={
            "incident_id": "stable id: from its earliest alert, kept as alerts join",
            "site": "site id, or ALL for company-wide alerts",
            "title": "the site and what regressed, worst first, e.g. S1: fraction defective on S1-L2, NPS",
            "severity": "the worst severity of its alerts",
            "incident_status": "open (an alert is open or acknowledged) or resolved",
            "first_day": "the first adverse day of its earliest alert",
            "last_day": "the latest day one of its alerts was active",
            "alerts": "its alerts",
            "open_alerts": "of those, open or acknowledged",
            "acknowledged_alerts": "of those, acknowledged at some point",
            "notes": "notes on its alerts (qp alerts note)",
            "opened_at": "when the pipeline first grouped it (UTC)",
            "updated_at": "when its alerts or its status last changed (UTC)",
            "resolved_at": "when its last alert resolved (UTC)",
            "hours_to_resolve": "hours from opening to resolution; NULL while it lasts",
            "merged_into": "the incident a later alert bridged it into, if any (its alerts are there now)",
        },
        sql="""
with incidents as (
    select * from incident
),

alerts as (
    select * from alert
),

notes as (
    select alert_id, count(*) as notes from alert_note group by alert_id
),

members as (
    select
        alerts.incident_id,
        sum(case when alerts.acknowledged_at is not null then 1 else 0 end) as acknowledged_alerts,
        sum(coalesce(notes.notes, 0)) as notes
    from alerts
    left join notes
        on notes.alert_id = alerts.alert_id
    group by alerts.incident_id
),

final as (
    select
        incidents.incident_id,
        incidents.site_id as site,
        incidents.title,
        incidents.severity,
        incidents.status as incident_status,
        incidents.first_date as first_day,
        incidents.last_date as last_day,
        incidents.alert_count as alerts,
        incidents.open_alert_count as open_alerts,
        coalesce(members.acknowledged_alerts, 0) as acknowledged_alerts,
        coalesce(members.notes, 0) as notes,
        incidents.opened_at,
        incidents.updated_at,
        incidents.resolved_at,
        hours_between(incidents.opened_at, incidents.resolved_at) as hours_to_resolve,
        incidents.merged_into_id as merged_into
    from incidents
    left join members
        on members.incident_id = incidents.incident_id
)

select * from final
""",
    ),
    View(
        name="incident_timeline",
        grain="one row per event of an incident's alerts",
        description=(
            "What happened in each incident, in time order: each alert opened, its latest update, its "
            "acknowledgement, the notes on it, and its resolution."
        ),
        columns={
            "incident_id": "the incident (incidents)",
            "site": "site id, or ALL",
            "incident_title": "the incident's title",
            "event_at": "when it happened (UTC)",
            "event": "alert_opened, alert_updated (its latest update), alert_acknowledged, note or alert_resolved",
            "alert_id": "the alert (quality_alerts)",
            "kpi_name": "the alert's KPI",
            "line": "line id, or ALL",
            "process_step": "process step id, or ALL",
            "severity": "the alert's severity",
            "actor": "who acknowledged it or wrote the note; NULL for what the pipeline did",
            "detail": "the alert's summary, the note, or how it resolved",
        },
        sql="""
with alerts as (
    select * from alert where incident_id is not null
),

notes as (
    select * from alert_note
),

incidents as (
    select * from incident
),

events as (
    select
        incident_id,
        alert_id,
        raised_at as event_at,
        1 as event_order,
        'alert_opened' as event,
        cast(null as text) as actor,
        subject as detail
    from alerts

    union all

    select incident_id, alert_id, updated_at, 2, 'alert_updated', cast(null as text), subject
    from alerts
    where updated_at > raised_at
        and (acknowledged_at is null or updated_at <> acknowledged_at)
        and (resolved_at is null or updated_at <> resolved_at)

    union all

    select incident_id, alert_id, acknowledged_at, 3, 'alert_acknowledged', acknowledged_by, cast(null as text)
    from alerts
    where acknowledged_at is not null

    union all

    select alerts.incident_id, notes.alert_id, notes.noted_at, 4, 'note', notes.author, notes.note
    from notes
    inner join alerts
        on alerts.alert_id = notes.alert_id

    union all

    select
        incident_id,
        alert_id,
        resolved_at,
        5,
        'alert_resolved',
        cast(null as text),
        case
            when resolved_date is null then 'its days were corrected: nothing regresses there any more'
            else 'back in control on ' || cast(resolved_date as text)
        end
    from alerts
    where resolved_at is not null
),

final as (
    select
        events.incident_id,
        incidents.site_id as site,
        incidents.title as incident_title,
        events.event_at,
        events.event,
        events.alert_id,
        alerts.kpi as kpi_name,
        alerts.line_id as line,
        alerts.step_id as process_step,
        alerts.severity,
        events.actor,
        events.detail,
        events.event_order
    from events
    inner join alerts
        on alerts.alert_id = events.alert_id
    inner join incidents
        on incidents.incident_id = events.incident_id
)

select
    incident_id,
    site,
    incident_title,
    event_at,
    event,
    alert_id,
    kpi_name,
    line,
    process_step,
    severity,
    actor,
    detail
from final
order by incident_id, event_at, event_order, alert_id
""",
    ),
    View(
        name="batch_ledger",
        grain="one row per landed batch",
        description="Every batch from the sources and where each of its rows went: loaded, quarantined or duplicate.",
        columns={
            "batch_id": "content-addressed id of the raw batch",
            "source_system": "qms, survey or lms",
            "dataset": "the dataset the batch belongs to",
            "batch_status": "landed (waiting), loaded, or blocked (a batch-level check failed)",
            "rows_extracted": "rows in the raw batch",
            "rows_loaded": "rows written to the warehouse",
            "rows_updated": "of the rows loaded, corrections: records the warehouse held in an earlier version",
            "rows_quarantined": "rows held back with the rules they broke",
            "rows_duplicate": "exact re-sends, or rows already loaded unchanged",
            "blocked_reason": "why a blocked batch was blocked",
            "landed_at": "when the batch landed (UTC)",
            "processed_at": "when it was validated and loaded (UTC)",
            "raw_path": "the batch's Parquet file in the landing zone (the replay point)",
            "batch_kind": "incremental (since the watermark), backfill (a re-extracted window) or replay",
            "data_docs_page": "the batch's page in the Great Expectations Data Docs",
        },
        sql="""
with source as (
    select * from batch_ledger
),

final as (
    select
        batch_id,
        source as source_system,
        dataset,
        status as batch_status,
        rows_extracted,
        rows_loaded,
        rows_updated,
        rows_quarantined,
        rows_duplicate,
        reason as blocked_reason,
        landed_at,
        processed_at,
        raw_path,
        batch_kind,
        data_docs_page
    from source
)

select * from final
""",
    ),
    View(
        name="data_quality",
        grain="one row per expectation per validated batch",
        description="Great Expectations results per batch, for data quality over time next to the KPIs.",
        columns={
            "batch_id": "the validated batch",
            "dataset": "the dataset validated",
            "validated_at": "when the batch was validated (UTC)",
            "rule": "the expectation, in words",
            "expectation_type": "the GX expectation class",
            "severity": "critical (quarantines or blocks) or warning (reported)",
            "passed": "whether the expectation held for the batch",
            "rows_checked": "rows the expectation looked at",
            "unexpected_rows": "rows that broke it",
            "unexpected_percent": "unexpected rows as a percentage of rows checked",
            "observed_value": "what GX observed, as JSON",
            "judged": "false when a history check had no bounds for the batch (no history yet, backfill, replay)",
        },
        sql="""
with source as (
    select * from validation_result
),

final as (
    select
        batch_id,
        dataset,
        validated_at,
        rule,
        expectation_type,
        severity,
        success as passed,
        element_count as rows_checked,
        unexpected_count as unexpected_rows,
        unexpected_percent,
        observed_value,
        judged
    from source
)

select * from final
""",
    ),
    View(
        name="quarantined_rows",
        grain="one row per quarantined source row",
        description="Rows held back from the warehouse, with every rule they broke and the raw record as received.",
        columns={
            "batch_id": "the batch the row came in",
            "dataset": "the dataset",
            "source_row": "the row's position in the raw batch",
            "record_key": "the row's natural key, when it had one",
            "failed_rules": "JSON list of the rules the row broke, with reasons",
            "raw_record": "JSON of the row as the source sent it",
            "quarantine_status": "open, replayed once fixed, or dismissed (with why, in failed_rules)",
            "quarantined_at": "when it was quarantined (UTC)",
            "data_day": "the day the row's event date names; NULL when it names none (a file that could not be read)",
            "awaiting_keys": "JSON {column: master data} when the row's only faults were keys the master data lacked: "
            "replayed by itself once they arrive",
        },
        sql="""
with source as (
    select * from quarantine
),

final as (
    select
        batch_id,
        dataset,
        source_row,
        record_key,
        failed_rules,
        raw_record,
        status as quarantine_status,
        quarantined_at,
        event_day as data_day,
        awaiting_keys
    from source
)

select * from final
""",
    ),
    View(
        name="data_quality_daily",
        grain="one row per dataset and day of validation",
        description="Data quality over time: how many checks passed, and where each day's rows went.",
        columns={
            "dataset": "the dataset validated",
            "validation_day": "the day the batches were validated (UTC)",
            "batches_validated": "batches validated that day",
            "blocked_batches": "of those, batches a critical batch-level check blocked",
            "checks_run": "expectations evaluated over the day's batches (history checks without bounds aside)",
            "checks_passed": "of those, the ones that held",
            "pass_rate": "checks_passed / checks_run, 0..1",
            "warnings_failed": "warning-severity checks that failed (the rows loaded)",
            "rows_extracted": "rows in the day's batches",
            "rows_loaded": "rows written to the warehouse",
            "rows_quarantined": "rows held back with the rules they broke",
            "rows_duplicate": "exact re-sends, or rows already loaded unchanged",
        },
        sql="""
with results as (
    select
        dataset,
        day_of(validated_at) as validation_day,
        sum(case when judged then 1 else 0 end) as checks_run,
        sum(case when judged and success then 1 else 0 end) as checks_passed,
        sum(case when severity = 'warning' and not success then 1 else 0 end) as warnings_failed
    from validation_result
    group by dataset, day_of(validated_at)
),

batches as (
    select
        dataset,
        day_of(processed_at) as validation_day,
        count(*) as batches_validated,
        sum(case when status = 'blocked' then 1 else 0 end) as blocked_batches,
        sum(rows_extracted) as rows_extracted,
        sum(rows_loaded) as rows_loaded,
        sum(rows_quarantined) as rows_quarantined,
        sum(rows_duplicate) as rows_duplicate
    from batch_ledger
    where processed_at is not null
    group by dataset, day_of(processed_at)
),

final as (
    select
        batches.dataset,
        batches.validation_day,
        batches.batches_validated,
        batches.blocked_batches,
        coalesce(results.checks_run, 0) as checks_run,
        coalesce(results.checks_passed, 0) as checks_passed,
        1.0 * results.checks_passed / nullif(results.checks_run, 0) as pass_rate,
        coalesce(results.warnings_failed, 0) as warnings_failed,
        batches.rows_extracted,
        batches.rows_loaded,
        batches.rows_quarantined,
        batches.rows_duplicate
    from batches
    left join results
        on results.dataset = batches.dataset and results.validation_day = batches.validation_day
)

select * from final
""",
    ),
    View(
        name="data_quality_by_day",
        grain="one row per fact dataset and day of the data (the rows' own event date)",
        description="Data quality by the day the data describes, not the day it was validated: of each day's source "
        "rows, how many the warehouse holds and how many validation holds back.",
        columns={
            "dataset": "the fact dataset",
            "data_day": "the day the rows' event date names (production day, response day, booking day, ...)",
            "rows_loaded": "rows of that day in the warehouse now (corrections replace the rows they correct)",
            "rows_quarantined": "rows of that day held back and still open (waiting for a fix or a replay)",
            "rows_dismissed": "rows of that day held back and given up on (`qp quarantine dismiss`)",
            "row_pass_rate": "rows_loaded / (rows_loaded + rows_quarantined + rows_dismissed), 0..1: the share of the "
            "day's rows that passed every row-level check (a row whose date can't be read counts on no day)",
        },
        sql=f"""
with loaded as (
{_union_of_loaded_rows()}
),

held as (
    select
        dataset,
        event_day as data_day,
        sum(case when status = 'open' then 1 else 0 end) as rows_quarantined,
        sum(case when status = 'dismissed' then 1 else 0 end) as rows_dismissed
    from quarantine
    where event_day is not null
    group by dataset, event_day
),

days as (
    select dataset, data_day from loaded
    union
    select dataset, data_day from held
),

final as (
    select
        days.dataset,
        days.data_day,
        coalesce(loaded.rows_loaded, 0) as rows_loaded,
        coalesce(held.rows_quarantined, 0) as rows_quarantined,
        coalesce(held.rows_dismissed, 0) as rows_dismissed,
        1.0 * coalesce(loaded.rows_loaded, 0) / nullif(
            coalesce(loaded.rows_loaded, 0) + coalesce(held.rows_quarantined, 0) + coalesce(held.rows_dismissed, 0), 0
        ) as row_pass_rate
    from days
    left join loaded on loaded.dataset = days.dataset and loaded.data_day = days.data_day
    left join held on held.dataset = days.dataset and held.data_day = days.data_day
)

select * from final
""",
    ),
    View(
        name="kpi_holds",
        grain="one row per KPI family, day and blocked batch",
        description="KPI days withheld because a batch they depend on was blocked, and when they were released.",
        columns={
            "kpi_family": "the KPIs held: production, cost, customer, retention, feedback, training or people",
            "kpi_day": "the day withheld from the KPI tables",
            "batch_id": "the blocked batch",
            "dataset": "the blocked batch's dataset",
            "blocked_reason": "the batch-level check that blocked it",
            "hold_status": "held, or released once the batch was resolved (its day then rebuilt)",
            "held_at": "when the hold began (UTC)",
            "released_at": "when it was released (UTC)",
        },
        sql="""
with source as (
    select * from kpi_hold
),

final as (
    select
        family as kpi_family,
        kpi_date as kpi_day,
        batch_id,
        dataset,
        reason as blocked_reason,
        case when released_at is null then 'held' else 'released' end as hold_status,
        held_at,
        released_at
    from source
)

select * from final
""",
    ),
    View(
        name="data_quality_alerts",
        grain="one row per data-quality alert",
        description=(
            "Validation warnings and blocked batches as alerts, open until a later batch passes or they are resolved."
        ),
        columns={
            "alert_id": "fingerprint of the alert",
            "alert_kind": "warning (a warning check failed; rows loaded) or blocked_batch",
            "dataset": "the dataset",
            "rule": "the check that failed, or the blocked batch",
            "severity": "warning or critical",
            "first_batch_id": "the batch that raised it",
            "last_batch_id": "the latest batch that failed the same check",
            "occurrences": "batches that failed it while the alert was open",
            "observed_value": "what GX observed in the latest batch, as JSON",
            "message": "the alert in words",
            "alert_status": "open or resolved",
            "first_seen_at": "when it was raised (UTC)",
            "last_seen_at": "when it was last seen (UTC)",
            "resolved_at": "when it was resolved (UTC)",
        },
        sql="""
with source as (
    select * from data_quality_alert
),

final as (
    select
        alert_id,
        kind as alert_kind,
        dataset,
        rule,
        severity,
        first_batch_id,
        last_batch_id,
        occurrences,
        observed_value,
        message,
        status as alert_status,
        first_seen_at,
        last_seen_at,
        resolved_at
    from source
)

select * from final
""",
    ),
    View(
        name="source_freshness",
        grain="one row per dataset",
        description=(
            "Silence is an event: each dataset's newest delivery, the deadline for the next and whether it is late, "
            "as the latest ingest run's clock judged it."
        ),
        columns={
            "dataset": "the dataset",
            "source": "its source system: qms, finance, survey or lms",
            "watched_as": "dataset (its own deadline), source (its source's: any fact of the source counts) or off "
            "(not watched: master data, unless configured)",
            "rhythm": "the days its data is due: daily, weekdays, or days such as mon-sat; empty when off",
            "last_delivery_at": "its newest delivery (UTC): the data's newest change time, for file drops the run "
            "that took the file; incremental batches with rows, any status",
            "last_batch_id": "the batch of that delivery",
            "deadline_basis_at": "the delivery the deadline counts from (its source's newest, when watched as "
            "source), or when watching began if nothing was delivered",
            "deadline_at": "when the next due day's data is late (UTC): the grace after that day ends",
            "freshness_state": "fresh, late, never_delivered or not_watched",
            "is_overdue": "past the deadline: a data-quality alert is open (late, or never delivered in time)",
            "watched_since": "the first run that watched it (UTC)",
            "evaluated_at": "the clock of the run that judged it (UTC)",
        },
        sql="""
with source as (
    select * from source_freshness
),

final as (
    select
        dataset,
        source,
        watched_as,
        rhythm,
        last_delivery_at,
        last_batch_id,
        deadline_basis_at,
        deadline_at,
        state as freshness_state,
        is_overdue,
        watched_since,
        evaluated_at
    from source
)

select * from final
""",
    ),
    View(
        name="alert_response",
        grain="one row per alert",
        description=(
            "How fast alerts are answered: hours from raising to acknowledgement and to resolution, with who owns "
            "the place, who works on it, the cause found and the action taken."
        ),
        columns={
            "alert_id": "the alert (qp alerts list)",
            "kpi_name": "the KPI that regressed",
            "severity": "critical, warning or info",
            "site": "site id, or ALL",
            "line": "line id, or ALL",
            "owner": "who answers for the place: the line's owner (dim_line.owner_email), else the assignee, "
            "else unassigned",
            "assignee": "who works on it (qp alerts assign)",
            "cause_code": "the assignable cause found",
            "action_code": "the corrective action taken",
            "notes": "notes on it (qp alerts note)",
            "alert_status": "open, acknowledged or resolved",
            "raised_at": "when the pipeline raised it (UTC)",
            "acknowledged_at": "when someone acknowledged it (UTC)",
            "resolved_at": "when it resolved (UTC)",
            "hours_to_acknowledge": "hours from raising to acknowledgement; NULL while unacknowledged",
            "hours_to_resolve": "hours from raising to resolution; NULL while it lasts",
        },
        sql=f"""
{_ALERT_RESPONSES}

final as (
    select * from responses
)

select * from final
""",
    ),
    View(
        name="alert_response_by_owner",
        grain="one row per owner",
        description="Alert response per owner: how many alerts, how many still open, and the mean hours to answer.",
        columns={
            "owner": "who answers for the places (as in alert_response)",
            "alerts": "alerts raised at their places",
            "open_alerts": "of those, open or acknowledged",
            "acknowledged_alerts": "of those, acknowledged at some point",
            "mean_hours_to_acknowledge": "mean hours to acknowledgement, over the acknowledged ones",
            "mean_hours_to_resolve": "mean hours to resolution, over the resolved ones",
            "with_cause": "alerts whose assignable cause was recorded",
        },
        sql=f"""
{_ALERT_RESPONSES}

final as (
    select
        owner,
        count(*) as alerts,
        sum(case when alert_status <> 'resolved' then 1 else 0 end) as open_alerts,
        sum(case when acknowledged_at is not null then 1 else 0 end) as acknowledged_alerts,
        avg(hours_to_acknowledge) as mean_hours_to_acknowledge,
        avg(hours_to_resolve) as mean_hours_to_resolve,
        sum(case when cause_code is not null then 1 else 0 end) as with_cause
    from responses
    group by owner
)

select * from final
""",
    ),
    View(
        name="process_capability",
        grain="one row per product, process step, characteristic and calendar month",
        description=(
            "Can the process meet its specification? Cp and Cpk (short-term: sigma within, from consecutive runs), "
            "Pp and Ppk (long-term: the month's whole spread) and Cpm, against the limits of QP_CAPABILITY_SPECS."
        ),
        columns={
            "product_id": "the product",
            "process_step": "the process step",
            "characteristic": "what is bounded: cycle_time_minutes, a run's finished_at - started_at",
            "month_start": "the calendar month's first day",
            "lower_spec_limit": "LSL (NULL for an upper limit alone)",
            "upper_spec_limit": "USL (NULL for a lower limit alone)",
            "spec_target": "the target, when the spec names one (Cpm uses the midpoint otherwise)",
            "runs": "runs in the month",
            "mean": "the month's mean",
            "sigma_within": "MR-bar / 1.128 of consecutive runs (short-term)",
            "sigma_overall": "sample standard deviation of the month's runs (long-term)",
            "cp": "(USL - LSL) / 6 sigma_within",
            "cpk": "the nearer limit's distance from the mean / 3 sigma_within; 1.33 is the usual minimum",
            "cpm": "(USL - LSL) / 6 sqrt(sigma_within^2 + (mean - target)^2)",
            "pp": "(USL - LSL) / 6 sigma_overall",
            "ppk": "as Cpk, with sigma_overall",
            "computed_at": "when it was computed (UTC)",
        },
        sql="""
with source as (
    select * from process_capability
),

final as (
    select
        product_id,
        step_id as process_step,
        characteristic,
        month_start,
        lsl as lower_spec_limit,
        usl as upper_spec_limit,
        target as spec_target,
        runs,
        mean,
        sigma_within,
        sigma_overall,
        cp,
        cpk,
        cpm,
        pp,
        ppk,
        computed_at
    from source
)

select * from final
""",
    ),
    View(
        name="cycle_times",
        grain="one row per production run",
        description="Each run's process cycle time (finished_at - started_at, KPIS.md), for capability histograms.",
        columns={
            "run_id": "the run",
            "product_id": "the product",
            "site": "site id",
            "line": "line id",
            "process_step": "process step id",
            "production_day": "the run's production day",
            "started_at": "when it started",
            "cycle_time_minutes": "finished_at - started_at, in minutes",
        },
        sql="""
with source as (
    select * from fact_production_run
),

final as (
    select
        run_id,
        product_id,
        site_id as site,
        line_id as line,
        step_id as process_step,
        production_date as production_day,
        started_at,
        hours_between(started_at, finished_at) * 60 as cycle_time_minutes
    from source
)

select * from final
""",
    ),
    View(
        name="improvement_effects",
        grain="one row per improvement and KPI",
        description=(
            "Did the improvement pay off? Each registered change's KPIs before and after it, each stage with its own "
            "control limits, the difference with its test, and the money of its site in the same windows."
        ),
        columns={
            "improvement_id": "the improvement (qp improvement list), its name as an id",
            "improvement_name": "what changed, in words",
            "change_date": "the first day of the after stage",
            "kpi_name": "the KPI judged",
            "grain": "company, site, line or step: the improvement's scope",
            "site": "site id, or ALL",
            "line": "line id, or ALL",
            "process_step": "process step id, or ALL",
            "before_start": "first day of the before stage",
            "before_end": "last day of the before stage (the day before the change)",
            "after_start": "first day of the after stage (the change)",
            "after_end": "last day of the after stage: its window, or the latest KPI day",
            "before_days": "days with a value before",
            "after_days": "days with a value after",
            "before_value": "the KPI before: pooled (sum of numerators / sum of denominators) for p- and u-chart KPIs, "
            "the mean of the days for the others",
            "after_value": "the KPI after, likewise",
            "difference": "after minus before, in the KPI's units",
            "test": "two-proportion z-test, two-rate z-test (pooled counts) or Welch t-test (daily values)",
            "statistic": "the test's z or t",
            "p_value": "two-sided p-value of the difference",
            "ci_low": "lower end of the difference's 95% interval",
            "ci_high": "upper end of the difference's 95% interval",
            "before_centre_line": "the before stage's centre line, from its own days",
            "before_lower_limit": "its lower control limit (p- and u-charts: at its mean daily sample size)",
            "before_upper_limit": "its upper control limit",
            "after_centre_line": "the after stage's centre line, from its own days",
            "after_lower_limit": "its lower control limit",
            "after_upper_limit": "its upper control limit",
            "after_days_beyond_before_limits_better": "after days beyond the before stage's limits on the better side",
            "after_days_beyond_before_limits_worse": "after days beyond them on the worse side",
            "verdict": "improved or worsened (p < 0.05, in the KPI's direction), no clear change, or too early (under "
            "5 days in a stage)",
            "copq_per_day_before": "cost of poor quality (internal + external failure) of the site per day, before",
            "copq_per_day_after": "the same, after",
            "external_failure_per_day_before": "external failure cost of the site per day, before",
            "external_failure_per_day_after": "the same, after",
            "prevention_per_day_before": "prevention spend of the site per day, before (training included)",
            "prevention_per_day_after": "the same, after",
            "training_per_day_before": "training spend of the site per day, before",
            "training_per_day_after": "the same, after",
            "net_saving_per_day": "fall in poor-quality cost per day minus the rise in prevention spend per day",
            "data_flags": "days in the windows whose data may make the result an artefact (held by a blocked "
            "batch, or largely quarantined); empty when clean",
            "computed_at": "when it was judged (UTC)",
        },
        sql="""
with effects as (
    select * from improvement_effect
),

improvements as (
    select * from improvement
),

final as (
    select
        effects.improvement_id,
        improvements.name as improvement_name,
        improvements.change_date,
        effects.kpi as kpi_name,
        effects.grain,
        effects.site_id as site,
        effects.line_id as line,
        effects.step_id as process_step,
        effects.before_start,
        effects.before_end,
        effects.after_start,
        effects.after_end,
        effects.before_days,
        effects.after_days,
        effects.before_value,
        effects.after_value,
        effects.difference,
        effects.test,
        effects.statistic,
        effects.p_value,
        effects.ci_low,
        effects.ci_high,
        effects.before_cl as before_centre_line,
        effects.before_lcl as before_lower_limit,
        effects.before_ucl as before_upper_limit,
        effects.after_cl as after_centre_line,
        effects.after_lcl as after_lower_limit,
        effects.after_ucl as after_upper_limit,
        effects.after_beyond_favourable as after_days_beyond_before_limits_better,
        effects.after_beyond_adverse as after_days_beyond_before_limits_worse,
        effects.verdict,
        effects.copq_per_day_before,
        effects.copq_per_day_after,
        effects.external_failure_per_day_before,
        effects.external_failure_per_day_after,
        effects.prevention_per_day_before,
        effects.prevention_per_day_after,
        effects.training_per_day_before,
        effects.training_per_day_after,
        (effects.copq_per_day_before - effects.copq_per_day_after)
            - (effects.prevention_per_day_after - effects.prevention_per_day_before) as net_saving_per_day,
        effects.data_flags,
        effects.computed_at
    from effects
    inner join improvements
        on improvements.improvement_id = effects.improvement_id
)

select * from final
""",
    ),
)


def create_or_replace(connection: Connection) -> None:
    """(Re)create every BI view, with comments on PostgreSQL, in the caller's transaction."""
    dialect = dialect_of(connection)
    if dialect.comments:  # the database with schemas and comments
        connection.exec_driver_sql(f"create schema if not exists {BI_SCHEMA}")
    for view in VIEWS:
        name = dialect.view_name(view.name)
        # Drop first: a view whose columns changed can't be replaced in place on PostgreSQL.
        connection.exec_driver_sql(f"drop view if exists {name}")
        connection.exec_driver_sql(f"create view {name} as {dialect.day_of(view.sql.strip())}")
        if dialect.comments:
            connection.exec_driver_sql(
                f"comment on view {name} is {_literal(f'{view.description} Grain: {view.grain}.')}"
            )
            for column, comment in view.columns.items():
                connection.exec_driver_sql(f"comment on column {name}.{column} is {_literal(comment)}")


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT takes no bind parameters), its ``%`` doubled: the driver reads a statement for
    ``%s`` placeholders even when it is sent without parameters."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


# Every role `qp bi-role` makes is a member of this NOLOGIN role. It holds no privilege: membership marks a BI
# reader, so that closing a database to PUBLIC keeps every other role's access and never gives a BI reader any.
BI_READERS = "qp_bi_readers"


def grant_read_only(connection: Connection, role: str, password: str, close_databases: Sequence[str] = ()) -> list[str]:
    """Create (or update) a login role that can read the ``bi`` views and nothing else (PostgreSQL).

    A role can't be denied what PUBLIC is granted, and PostgreSQL grants PUBLIC ``CONNECT`` and ``TEMPORARY`` on
    every database (and, before version 15, ``CREATE`` on schema ``public``). So on the warehouse's database, and on
    each of ``close_databases``, those privileges are taken from PUBLIC and granted back, by name, to every other
    login role that had them, except BI readers: no existing role loses access, and the BI role gets only
    ``CONNECT`` to the warehouse and ``SELECT`` on the views. A role created later must be granted ``CONNECT`` on
    those databases explicitly. Needs the databases' owner or a superuser. Returns the other databases of the
    server the role can still connect to (PUBLIC's ``CONNECT`` there; pg_hba.conf can refuse them too).
    """
    from psycopg import sql

    if not dialect_of(connection).roles:
        raise ValueError("read-only roles need PostgreSQL; an SQLite file is read-only by file permissions")
    raw = driver_connection(connection)
    ident, bi = sql.Identifier(role), sql.Identifier(BI_SCHEMA)
    _ensure_group(raw, BI_READERS)
    exists = raw.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    verb = "alter" if exists else "create"
    raw.execute(
        sql.SQL(verb + " role {} login nosuperuser nocreatedb nocreaterole noreplication password {}").format(
            ident, sql.Literal(password)
        )
    )
    raw.execute(sql.SQL("grant {} to {}").format(sql.Identifier(BI_READERS), ident))
    # Belt and braces: even a privilege granted by mistake later can't write through this role.
    raw.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident))
    warehouse = raw.info.dbname
    for database in dict.fromkeys([warehouse, *close_databases]):
        _take_from_public(
            raw,
            sql.SQL("database {}").format(sql.Identifier(database)),
            ("CONNECT", "TEMPORARY"),
            "has_database_privilege(r.oid, %(target)s, %(privilege)s)",
            database,
        )
    _take_from_public(
        raw, sql.SQL("schema public"), ("CREATE",), "has_schema_privilege(r.oid, %(target)s, %(privilege)s)", "public"
    )
    raw.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(warehouse), ident))
    raw.execute(sql.SQL("grant usage on schema {} to {}").format(bi, ident))
    raw.execute(sql.SQL("grant select on all tables in schema {} to {}").format(bi, ident))
    raw.execute(sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(bi, ident))
    left = raw.execute(
        """
        select
            has_database_privilege(%(role)s, %(warehouse)s, 'TEMPORARY') as can_create_temp,
            has_schema_privilege(%(role)s, 'public', 'CREATE') as can_create_in_public
        """,
        {"role": role, "warehouse": warehouse},
    ).fetchone()
    if left is None or any(left):
        raise PermissionError(
            f"PUBLIC's privileges on database {warehouse} could not be taken (they need its owner or a superuser): "
            f"role {role} could still create temporary tables or tables in schema public"
        )
    closed = raw.execute(
        """
        select datname from pg_database
        where datallowconn and datname = any(%(closing)s) and has_database_privilege(%(role)s, datname, 'CONNECT')
        """,
        {"role": role, "closing": list(close_databases)},
    ).fetchall()
    if closed:
        raise PermissionError(f"database(s) {', '.join(r[0] for r in closed)} could not be closed to role {role}")
    reachable = raw.execute(
        """
        select datname from pg_database
        where datallowconn and datname <> %(warehouse)s and has_database_privilege(%(role)s, datname, 'CONNECT')
        order by datname
        """,
        {"role": role, "warehouse": warehouse},
    ).fetchall()
    return [r[0] for r in reachable]


def other_databases(connection: Connection) -> list[str]:
    """The databases of the server besides the connection's own that accept connections."""
    rows = connection.exec_driver_sql(
        "select datname from pg_database where datallowconn and datname <> current_database() order by datname"
    )
    return [r[0] for r in rows]


def _ensure_group(raw: Any, name: str) -> None:
    """Create NOLOGIN role ``name`` unless it exists (another session may be creating it at the same moment)."""
    import psycopg
    from psycopg import sql

    if raw.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
        return
    try:
        with raw.transaction():  # a savepoint: a concurrent creator's win must not abort the caller's transaction
            raw.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass


def _take_from_public(raw: Any, target_sql: Any, privileges: Sequence[str], holds: str, target: str) -> None:
    """Revoke ``privileges`` on the object from PUBLIC; grant them back to the login roles that lose them.

    ``holds`` tests whether role ``r`` has a privilege on the object (``has_database_privilege`` and the like).
    Superusers, the object's owner and BI readers are not granted anything: the first two keep every privilege.
    """
    from psycopg import sql

    holders_query = f"""
        select r.rolname from pg_roles as r
        where r.rolcanlogin and not r.rolsuper and not pg_has_role(r.oid, %(readers)s, 'member')
            and {holds}
    """  # noqa: S608 (holds is one of this module's expressions)
    for privilege in privileges:
        params = {"readers": BI_READERS, "target": target, "privilege": privilege}
        before = {r[0] for r in raw.execute(holders_query, params).fetchall()}
        raw.execute(sql.SQL("revoke {} on {} from public").format(sql.SQL(privilege), target_sql))
        after = {r[0] for r in raw.execute(holders_query, params).fetchall()}
        for lost in sorted(before - after):
            raw.execute(sql.SQL("grant {} on {} to {}").format(sql.SQL(privilege), target_sql, sql.Identifier(lost)))
