"""Superset's assets, generated: the warehouse as a database, a dataset per BI view, metrics from the KPI registry,
and the QualityPulse dashboard (``qp superset-assets`` writes them to ``deploy/superset/assets``).

The files are Superset's import/export format (``metadata.yaml``, ``databases/``, ``datasets/``, ``charts/``,
``dashboards/``; zipped, a bundle the UI, the API and ``deploy/superset/import_assets.py`` import). A KPI's metric
is what the registry says it is: a ratio is ``sum(numerator) / sum(denominator)`` times its scale, an amount the
summed numerator, never an average of daily values. A KPI that does not roll up that way (a route product, a
quantile, a window, a value derived from a ratio) gets only the value of one row of the view: the metric is NULL
when a query aggregates more than one row. Every KPI metric is NULL, too, when it would sum rows of different grains
(company, site, line, step), which would count each unit more than once. Every chart stores its ``query_context``,
so its data can be asked for through ``/api/v1/chart/data``; it asks for tidy rows (no pivot), one per x value and
series.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from core.kpi_registry import REGISTRY, Kpi, Registry
from warehouse.bi_views import VIEWS, View

EXPORT_VERSION = "1.0.0"
DATABASE_NAME = "QualityPulse warehouse"
# The compose stack's warehouse through the read-only role; the password is never in a file: Superset shows it
# masked, and deploy/superset/import_assets.py sets the whole URI from the environment (QP_SUPERSET_WAREHOUSE_URI).
DEFAULT_URI = "postgresql+psycopg2://qp_bi_reader:XXXXXXXXXX@postgres:5432/qualitypulse"
BI_SCHEMA = "bi"
DASHBOARD_TITLE = "QualityPulse: quality overview"
DASHBOARD_SLUG = "qualitypulse"
_NAMESPACE = uuid.UUID("5b0f3c9e-6a43-4a2e-9d43-2f3c1c9a7e10")  # fixed: the same asset keeps its uuid across runs
_DB_FOLDER = "qualitypulse_warehouse"

TimeGrain = Literal["P1D", "P1W", "P1M"]
Viz = Literal["line", "bar", "stacked_bar", "big_number", "table"]
_VIZ_TYPES: dict[Viz, str] = {
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
    "stacked_bar": "echarts_timeseries_bar",
    "big_number": "big_number",
    "table": "table",
}
KPI_VIEWS = {"kpi_daily": "kpi_day", "kpi_weekly": "week_start", "kpi_monthly": "month_start"}
_DATE_SUFFIXES = ("_day", "_start", "_end", "_on", "_at", "_date", "_since")
_DATE_NAMES = {"as_of"}


def uid(kind: str, name: str) -> str:
    """The asset's stable uuid: re-imports update it instead of adding a copy."""
    return str(uuid.uuid5(_NAMESPACE, f"qualitypulse/superset/{kind}/{name}"))


def is_date(column: str) -> bool:
    """Whether a BI view's column is a date or a timestamp (the views name them so; a test checks the database)."""
    return column in _DATE_NAMES or (column.endswith(_DATE_SUFFIXES) and not column.endswith("_per_day"))


def sql_type(column: str) -> str | None:
    if not is_date(column):
        return None
    return "TIMESTAMP" if column.endswith("_at") or column == "computed_at" else "DATE"


# --- metrics --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    expression: str
    description: str
    d3format: str | None = None
    warning: str | None = None


def d3_format(kpi: Kpi) -> str:
    """The KPI's display format (``{:.2%}``) as Superset's d3 format (``.2%``)."""
    return kpi.display_format.removeprefix("{:").removesuffix("}")


def rolls_up(kpi: Kpi) -> bool:
    """Whether sums of the view's numerator and denominator give the KPI over any set of rows of one grain."""
    return kpi.additive and kpi.derived is None


def kpi_metric(kpi: Kpi) -> Metric:
    """The KPI as a metric of the KPI views, from its registry entry."""
    mine = f"kpi_name = '{kpi.code}'"
    one_grain = f"count(distinct case when {mine} then grain end) = 1"
    if rolls_up(kpi) and kpi.denominator is not None:
        scale = "" if kpi.scale == 1 else f" * {kpi.scale:g}"
        value = (
            f"sum(case when {mine} then numerator end) * 1.0 / nullif(sum(case when {mine} then denominator end), 0)"
            f"{scale}"
        )
        how = f"sum of {kpi.numerator.counts} / sum of {kpi.denominator.counts}" + (
            f", times {kpi.scale:g}" if kpi.scale != 1 else ""
        )
        return Metric(
            kpi.code,
            kpi.label,
            f"case when {one_grain} then {value} end",
            f"{kpi.description}: {how}; rows of one grain only (filter grain)",
            d3_format(kpi),
        )
    if rolls_up(kpi):
        return Metric(
            kpi.code,
            kpi.label,
            f"case when {one_grain} then sum(case when {mine} then numerator end) end",
            f"{kpi.description}: sum of {kpi.numerator.counts}; rows of one grain only (filter grain)",
            d3_format(kpi),
        )
    return Metric(
        kpi.code,
        kpi.label,
        f"case when count(case when {mine} then 1 end) = 1 then max(case when {mine} then kpi_value end) end",
        f"{kpi.description}: {kpi.derived or kpi.additivity}; the value of one row (one period and place)",
        d3_format(kpi),
        warning=f"{kpi.label} does not roll up from the view's counts: NULL unless the query keeps to one row "
        "(group by the date and place at one grain)",
    )


def _count(what: str) -> Metric:
    return Metric("count", f"Number of {what}", "count(*)", f"the number of {what}", ",.0f")


def _sum(column: str, label: str) -> Metric:
    return Metric(f"total_{column}", label, f"sum({column})", f"sum of {column}", ",.0f")


def _row_value(column: str, label: str, d3format: str | None = None) -> Metric:
    return Metric(
        f"row_{column}",
        label,
        f"case when count(*) = 1 then max({column}) end",
        f"{column} of one row",
        d3format,
        warning=f"{column} does not roll up: NULL unless the query keeps to one row of the view",
    )


# What rolls up in the other views: their counts sum, their rates come from summed counts, and the values a row
# holds for its own period and place (a control chart's limits, a line's weekly compliance) are one row's value.
_VIEW_METRICS: dict[str, tuple[Metric, ...]] = {
    "defect_pareto_daily": (_sum("defects", "Defects"),),
    "control_charts": (
        _row_value("kpi_value", "Value"),
        _row_value("centre_line", "Centre line"),
        _row_value("lower_control_limit", "Lower control limit"),
        _row_value("upper_control_limit", "Upper control limit"),
        Metric(
            "adverse_days",
            "Adverse days",
            "sum(case when is_adverse then 1 else 0 end)",
            "days judged a regression",
            ",.0f",
        ),
    ),
    "training_vs_outcomes": (
        _row_value("training_compliance", "Training compliance", ".2%"),
        _row_value("training_completion", "Training completion", ".2%"),
        _row_value("first_pass_yield", "First pass yield", ".2%"),
        _row_value("dpmo", "DPMO", ",.0f"),
        _row_value("complaints", "Complaints", ",.0f"),
    ),
    "quality_alerts": (
        Metric(
            "open_alerts",
            "Open alerts",
            "sum(case when alert_status <> 'resolved' then 1 else 0 end)",
            "alerts open or acknowledged",
            ",.0f",
        ),
    ),
    "batch_ledger": tuple(
        _sum(c, label)
        for c, label in (
            ("rows_extracted", "Rows extracted"),
            ("rows_loaded", "Rows loaded"),
            ("rows_updated", "Rows updated"),
            ("rows_quarantined", "Rows quarantined"),
            ("rows_duplicate", "Duplicate rows"),
        )
    ),
    "data_quality_daily": (
        _sum("checks_run", "Checks run"),
        _sum("checks_passed", "Checks passed"),
        _sum("blocked_batches", "Blocked batches"),
        Metric(
            "check_pass_rate",
            "Check pass rate",
            "sum(checks_passed) * 1.0 / nullif(sum(checks_run), 0)",
            "checks passed / checks run, from summed counts",
            ".2%",
        ),
    ),
    "data_quality_by_day": (
        _sum("rows_loaded", "Rows loaded"),
        _sum("rows_quarantined", "Rows quarantined"),
        _sum("rows_dismissed", "Rows dismissed"),
        Metric(
            "row_pass_rate",
            "Row pass rate",
            "sum(rows_loaded) * 1.0 / nullif(sum(rows_loaded) + sum(rows_quarantined) + sum(rows_dismissed), 0)",
            "rows loaded / rows that arrived (loaded, quarantined or dismissed), from summed counts",
            ".2%",
        ),
    ),
}


def metrics_of(view: View, registry: Registry = REGISTRY) -> tuple[Metric, ...]:
    own = tuple(kpi_metric(k) for k in registry) if view.name in KPI_VIEWS else _VIEW_METRICS.get(view.name, ())
    return (_count("rows"), *own)


# --- charts and the dashboard ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    column: str
    op: Literal["==", "IN", "!="]
    value: str | bool | tuple[str, ...]


@dataclass(frozen=True)
class Chart:
    """One chart: the view it reads and the query behind it, in the few shapes the dashboard needs."""

    slug: str
    title: str
    tab: str
    view: str
    viz: Viz
    metrics: tuple[str, ...] = ()
    x_axis: str | None = None  # a date (with time_grain) or a category
    time_grain: TimeGrain | None = None
    groupby: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # a table's raw columns (no metrics)
    filters: tuple[Filter, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (column or metric, ascending)
    width: int = 6
    description: str = ""
    y_format: str | None = None
    row_limit: int = 10_000


TABS = (
    "KPI trends",
    "Control charts",
    "Pareto",
    "Cost of quality",
    "Training vs outcomes",
    "Alerts",
    "Data quality",
)


def _kpi_tiles(registry: Registry) -> list[Chart]:
    """A big number with its weekly trend for each of the report's tile KPIs, company-wide."""
    charts = []
    for kpi in registry.tiles():
        if "company" not in kpi.grains:
            continue  # a line-only KPI (RTY) has no company figure: the line charts show it
        daily = rolls_up(kpi)
        charts.append(
            Chart(
                slug=f"kpi_{kpi.code}",
                title=f"{kpi.label}, weekly",
                tab="KPI trends",
                view="kpi_daily" if daily else "kpi_weekly",
                viz="big_number",
                metrics=(kpi.code,),
                x_axis="kpi_day" if daily else "week_start",
                time_grain="P1W",
                filters=(Filter("grain", "==", "company"),),
                width=3,
                description=f"{kpi.description}; company-wide, the latest week and the weekly trend "
                + ("(summed daily counts)" if daily else "(the weekly view's value: it does not roll up from days)"),
                y_format=d3_format(kpi),
            )
        )
    return charts


def charts(registry: Registry = REGISTRY) -> tuple[Chart, ...]:
    """The dashboard's charts, tab by tab."""
    fpy, copq_share = registry["fpy"], registry["copq_share_of_revenue"]
    paf = tuple(k.code for k in registry if k.part_of == "coq_total")
    control = "Control charts"
    return (
        *_kpi_tiles(registry),
        Chart(
            "fpy_by_line_weekly",
            "First pass yield by line, weekly",
            "KPI trends",
            "kpi_daily",
            "line",
            metrics=("fpy",),
            x_axis="kpi_day",
            time_grain="P1W",
            groupby=("line",),
            filters=(Filter("grain", "==", "line"),),
            width=12,
            description="each line's first pass yield per ISO week, from summed daily counts",
            y_format=d3_format(fpy),
        ),
        *(
            Chart(
                f"control_{rule}",
                f"Control chart: {title}",
                control,
                "control_charts",
                "line",
                metrics=("row_kpi_value", "row_centre_line", "row_lower_control_limit", "row_upper_control_limit"),
                x_axis="kpi_day",
                time_grain="P1D",
                groupby=(place,),
                filters=(Filter("rule_name", "==", rule),),
                width=12,
                description=f"the rule {rule} as the alerting judged it: each day's value, its centre line and "
                "control limits from the trailing in-control baseline",
                y_format=fmt,
            )
            for rule, title, place, fmt in (
                ("line_fraction_defective", "fraction defective per line (p-chart)", "line", ".2%"),
                ("line_defects_per_unit", "defects per unit per line (u-chart)", "line", ",.3f"),
                ("site_nps", "NPS per site, trailing week", "site", "+.1f"),
            )
        ),
        Chart(
            "adverse_days",
            "Days judged adverse",
            control,
            "control_charts",
            "table",
            columns=(
                "kpi_day",
                "rule_name",
                "site",
                "line",
                "process_step",
                "kpi_value",
                "centre_line",
                "lower_control_limit",
                "upper_control_limit",
                "rule_fired",
            ),
            filters=(Filter("is_adverse", "==", True),),
            order_by=(("kpi_day", False), ("rule_name", True), ("site", True), ("line", True), ("process_step", True)),
            width=12,
            description="every judged day that counted as a regression, newest first",
        ),
        Chart(
            "pareto_defect_codes",
            "Defects by code (Pareto)",
            "Pareto",
            "defect_pareto_daily",
            "bar",
            metrics=("total_defects",),
            x_axis="defect_code",
            order_by=(("total_defects", False),),
            width=8,
            description="defects booked per defect code over the whole period, largest first",
        ),
        Chart(
            "pareto_defect_categories",
            "Defects by category and site",
            "Pareto",
            "defect_pareto_daily",
            "stacked_bar",
            metrics=("total_defects",),
            x_axis="defect_category",
            groupby=("site",),
            order_by=(("total_defects", False),),
            width=4,
            description="defects booked per category of the catalogue, by site",
        ),
        Chart(
            "coq_by_category_monthly",
            "Cost of quality by PAF category, monthly",
            "Cost of quality",
            "kpi_daily",
            "stacked_bar",
            metrics=paf,
            x_axis="kpi_day",
            time_grain="P1M",
            filters=(Filter("grain", "==", "company"),),
            width=6,
            description="prevention, appraisal, internal and external failure costs booked per month, company-wide",
            y_format=",.0f",
        ),
        Chart(
            "copq_share_by_site_monthly",
            "Cost of poor quality as a share of revenue, by site, monthly",
            "Cost of quality",
            "kpi_daily",
            "line",
            metrics=("copq_share_of_revenue",),
            x_axis="kpi_day",
            time_grain="P1M",
            groupby=("site",),
            filters=(Filter("grain", "==", "site"),),
            width=6,
            description="internal and external failure costs over the revenue shipped, per site and month",
            y_format=d3_format(copq_share),
        ),
        Chart(
            "training_vs_fpy_weekly",
            "Training compliance and first pass yield per line, weekly",
            "Training vs outcomes",
            "training_vs_outcomes",
            "line",
            metrics=("row_training_compliance", "row_first_pass_yield"),
            x_axis="period_start",
            time_grain="P1W",
            groupby=("line",),
            filters=(Filter("period", "==", "week"),),
            width=12,
            description="a lapse in training shows ahead of a fall in yield on the same line",
            y_format=".2%",
        ),
        Chart(
            "training_vs_outcomes_table",
            "Training next to outcomes, per line and week",
            "Training vs outcomes",
            "training_vs_outcomes",
            "table",
            columns=(
                "period_start",
                "site",
                "line",
                "training_compliance",
                "training_completion",
                "first_pass_yield",
                "dpmo",
                "complaints",
                "compliance_fpy_correlation",
            ),
            filters=(Filter("period", "==", "week"),),
            order_by=(("period_start", False), ("line", True)),
            width=8,
        ),
        Chart(
            "training_leads",
            "Training as a leading indicator",
            "Training vs outcomes",
            "training_leads",
            "table",
            columns=("site", "line", "leading_kpi", "outcome_kpi", "lag_days", "correlation", "is_established"),
            order_by=(("site", True), ("line", True), ("leading_kpi", True), ("outcome_kpi", True)),
            width=4,
            description="after how many days a line's yield has followed its training, and how closely",
        ),
        Chart(
            "open_alerts",
            "Open alerts",
            "Alerts",
            "quality_alerts",
            "table",
            columns=(
                "alert_id",
                "severity",
                "headline",
                "site",
                "line",
                "began_on",
                "days_adverse",
                "alert_status",
                "incident_id",
            ),
            filters=(Filter("alert_status", "IN", ("open", "acknowledged")),),
            order_by=(("began_on", False), ("alert_id", True)),
            width=12,
            description="what regressed, where and since when; acknowledged alerts are still open",
        ),
        Chart(
            "alerts_by_kpi",
            "Alerts by KPI and status",
            "Alerts",
            "quality_alerts",
            "stacked_bar",
            metrics=("count",),
            x_axis="kpi_name",
            groupby=("alert_status",),
            order_by=(("count", False),),
            width=6,
        ),
        Chart(
            "incidents",
            "Incidents",
            "Alerts",
            "incidents",
            "table",
            columns=(
                "incident_id",
                "incident_status",
                "severity",
                "title",
                "first_day",
                "last_day",
                "alerts",
                "open_alerts",
            ),
            order_by=(("first_day", False), ("incident_id", True)),
            width=6,
        ),
        Chart(
            "row_pass_rate_daily",
            "Row pass rate by dataset, per day of the data",
            "Data quality",
            "data_quality_by_day",
            "line",
            metrics=("row_pass_rate",),
            x_axis="data_day",
            time_grain="P1D",
            groupby=("dataset",),
            width=12,
            description="of each day's source rows, the share that passed every row-level check",
            y_format=".2%",
        ),
        Chart(
            "rows_by_dataset",
            "Where each dataset's rows went",
            "Data quality",
            "batch_ledger",
            "table",
            metrics=(
                "count",
                "total_rows_extracted",
                "total_rows_loaded",
                "total_rows_updated",
                "total_rows_quarantined",
                "total_rows_duplicate",
            ),
            groupby=("dataset",),
            order_by=(("dataset", True),),
            width=6,
            description="batches and rows per dataset over every landed batch",
        ),
        Chart(
            "check_pass_rate_daily",
            "Check pass rate by dataset, per day of validation",
            "Data quality",
            "data_quality_daily",
            "line",
            metrics=("check_pass_rate",),
            x_axis="validation_day",
            time_grain="P1D",
            groupby=("dataset",),
            width=6,
            y_format=".2%",
        ),
        Chart(
            "data_quality_alerts",
            "Data-quality alerts",
            "Data quality",
            "data_quality_alerts",
            "table",
            columns=(
                "alert_id",
                "alert_status",
                "severity",
                "dataset",
                "alert_kind",
                "message",
                "occurrences",
                "last_seen_at",
            ),
            order_by=(("last_seen_at", False), ("alert_id", True)),
            width=12,
        ),
    )


# --- the files --------------------------------------------------------------------------------------------------------


def _filters(chart: Chart) -> list[dict[str, Any]]:
    return [
        {"col": f.column, "op": f.op, "val": list(f.value) if isinstance(f.value, tuple) else f.value}
        for f in chart.filters
    ]


def _adhoc_filters(chart: Chart) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if chart.time_grain and chart.x_axis:  # the time range people can narrow (all of it by default)
        out.append(
            {
                "clause": "WHERE",
                "subject": chart.x_axis,
                "operator": "TEMPORAL_RANGE",
                "comparator": "No filter",
                "expressionType": "SIMPLE",
            }
        )
    for f in chart.filters:
        out.append(
            {
                "clause": "WHERE",
                "subject": f.column,
                "operator": f.op,
                "comparator": list(f.value) if isinstance(f.value, tuple) else f.value,
                "expressionType": "SIMPLE",
            }
        )
    return out


def form_data(chart: Chart, dataset_id: str) -> dict[str, Any]:
    """The chart's ``params``: what the explore view edits."""
    params: dict[str, Any] = {"datasource": dataset_id, "viz_type": _VIZ_TYPES[chart.viz]}
    if chart.viz == "table":
        raw = not chart.metrics
        params |= {
            "query_mode": "raw" if raw else "aggregate",
            "all_columns": list(chart.columns) if raw else [],
            "groupby": [] if raw else list(chart.groupby),
            "metrics": [] if raw else list(chart.metrics),
            "order_by_cols": [json.dumps([c, asc]) for c, asc in chart.order_by] if raw else [],
            "server_pagination": False,
            "table_timestamp_format": "%Y-%m-%d",
        }
    elif chart.viz == "big_number":
        params |= {
            "x_axis": chart.x_axis,
            "time_grain_sqla": chart.time_grain,
            "metric": chart.metrics[0],
            "show_trend_line": True,
            "start_y_axis_at_zero": False,
            "y_axis_format": chart.y_format or "SMART_NUMBER",
        }
    else:
        params |= {
            "x_axis": chart.x_axis,
            "metrics": list(chart.metrics),
            "groupby": list(chart.groupby),
            "y_axis_format": chart.y_format or "SMART_NUMBER",
            "show_legend": True,
            "rich_tooltip": True,
            "truncate_metric": True,
        }
        if chart.time_grain:
            params["time_grain_sqla"] = chart.time_grain
        else:  # a category axis, sorted by the first ordering
            column, ascending = chart.order_by[0]
            params |= {"x_axis_sort": column, "x_axis_sort_asc": ascending}
        if chart.viz == "stacked_bar":
            params["stack"] = "Stack"
        if chart.viz == "line":
            params["seriesType"] = "line"
    params |= {"adhoc_filters": _adhoc_filters(chart), "row_limit": chart.row_limit, "extra_form_data": {}}
    return params


def query_context(chart: Chart, params: Mapping[str, Any]) -> dict[str, Any]:
    """What ``/api/v1/chart/data`` takes for the chart: tidy rows, one per x value and series (no pivot)."""
    columns: list[Any]
    if chart.viz == "table" and not chart.metrics:
        columns = list(chart.columns)
    elif chart.x_axis and chart.time_grain:
        axis = {
            "timeGrain": chart.time_grain,
            "columnType": "BASE_AXIS",
            "sqlExpression": chart.x_axis,
            "label": chart.x_axis,
            "expressionType": "SQL",
        }
        columns = [axis, *chart.groupby]
    else:
        columns = [c for c in (chart.x_axis, *chart.groupby) if c]
    temporal = (
        [{"col": chart.x_axis, "op": "TEMPORAL_RANGE", "val": "No filter"}] if chart.time_grain and chart.x_axis else []
    )
    order = [[c, asc] for c, asc in chart.order_by]
    if not order and chart.x_axis:
        order = [[chart.x_axis, True], *([g, True] for g in chart.groupby)]
    raw = chart.viz == "table" and not chart.metrics
    query = {
        "columns": columns,
        "metrics": None if raw else list(chart.metrics),  # None: the rows themselves, not grouped
        "filters": temporal + _filters(chart),
        "extras": {"having": "", "where": "", **({"time_grain_sqla": chart.time_grain} if chart.time_grain else {})},
        "orderby": order,
        "row_limit": chart.row_limit,
        "series_limit": 0,
        "order_desc": True,
        "annotation_layers": [],
        "applied_time_extras": {},
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
        "time_range": "No filter",
    }
    return {
        "datasource": {"id": 0, "type": "table"},  # the import puts the dataset's id here
        "force": False,
        "queries": [query],
        "form_data": dict(params),
        "result_format": "json",
        "result_type": "full",
    }


def _database() -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": DEFAULT_URI,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {
            "allows_virtual_table_explore": True,
            "schema_options": {},
            "metadata_params": {},
            "engine_params": {},
        },
        "uuid": uid("database", DATABASE_NAME),
        "version": EXPORT_VERSION,
        "is_managed_externally": True,
    }


def _dataset(view: View, registry: Registry) -> dict[str, Any]:
    metrics = metrics_of(view, registry)
    dates = [c for c in view.columns if is_date(c)]
    return {
        "table_name": view.name,
        "main_dttm_col": dates[0] if dates else None,
        "description": f"{view.description} Grain: {view.grain}.",
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": BI_SCHEMA,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", view.name),
        "metrics": [
            {
                "metric_name": m.name,
                "verbose_name": m.label,
                "metric_type": None,
                "expression": m.expression,
                "description": m.description,
                "d3format": m.d3format,
                "extra": {"warning_markdown": m.warning} if m.warning else {},
                "warning_text": m.warning,
            }
            for m in metrics
        ],
        "columns": [
            {
                "column_name": column,
                "verbose_name": None,
                "is_dttm": is_date(column),
                "is_active": True,
                "type": sql_type(column),
                "advanced_data_type": None,
                "groupby": True,
                "filterable": True,
                "expression": None,
                "description": comment,
                "python_date_format": None,
                "extra": {},
            }
            for column, comment in view.columns.items()
        ],
        "version": EXPORT_VERSION,
        "database_uuid": uid("database", DATABASE_NAME),
        "is_managed_externally": True,
    }


def _chart(chart: Chart) -> dict[str, Any]:
    params = form_data(chart, f"{uid('dataset', chart.view)}__table")
    return {
        "slice_name": chart.title,
        "description": chart.description or None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": _VIZ_TYPES[chart.viz],
        "params": params,
        "query_context": json.dumps(query_context(chart, params), sort_keys=True),
        "cache_timeout": None,
        "uuid": uid("chart", chart.slug),
        "version": EXPORT_VERSION,
        "dataset_uuid": uid("dataset", chart.view),
        "is_managed_externally": True,
    }


def _position(all_charts: Sequence[Chart]) -> dict[str, Any]:
    """The dashboard's layout (Superset's v2 position): a tab per topic, rows of charts 12 columns wide."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["TABS-main"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": DASHBOARD_TITLE}},
        "TABS-main": {"type": "TABS", "id": "TABS-main", "children": [], "parents": ["ROOT_ID"], "meta": {}},
    }
    chart_number = 0
    for t, tab in enumerate(TABS, start=1):
        tab_id = f"TAB-{t}"
        position["TABS-main"]["children"].append(tab_id)
        position[tab_id] = {
            "type": "TAB",
            "id": tab_id,
            "children": [],
            "parents": ["ROOT_ID", "TABS-main"],
            "meta": {"text": tab, "defaultText": "Tab title", "placeholder": "Tab title"},
        }
        rows: list[list[Chart]] = []
        for chart in (c for c in all_charts if c.tab == tab):
            if not rows or sum(c.width for c in rows[-1]) + chart.width > 12:
                rows.append([])
            rows[-1].append(chart)
        for r, row in enumerate(rows, start=1):
            row_id = f"ROW-{t}-{r}"
            position[tab_id]["children"].append(row_id)
            position[row_id] = {
                "type": "ROW",
                "id": row_id,
                "children": [],
                "parents": ["ROOT_ID", "TABS-main", tab_id],
                "meta": {"background": "BACKGROUND_TRANSPARENT"},
            }
            for chart in row:
                chart_number += 1
                chart_id = f"CHART-{chart.slug}"
                position[row_id]["children"].append(chart_id)
                position[chart_id] = {
                    "type": "CHART",
                    "id": chart_id,
                    "children": [],
                    "parents": ["ROOT_ID", "TABS-main", tab_id, row_id],
                    "meta": {
                        "width": chart.width,
                        "height": 30 if chart.viz == "big_number" else 60,
                        "chartId": chart_number,  # the import maps it to the chart's id there (by uuid)
                        "uuid": uid("chart", chart.slug),
                        "sliceName": chart.title,
                    },
                }
    return position


def _dashboard(all_charts: Sequence[Chart]) -> dict[str, Any]:
    return {
        "dashboard_title": DASHBOARD_TITLE,
        "description": None,
        "css": "",
        "slug": DASHBOARD_SLUG,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": uid("dashboard", DASHBOARD_SLUG),
        "position": _position(all_charts),
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "shared_label_colors": [],
            "color_scheme_domain": [],
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": True,
            "native_filter_configuration": [],
            "default_filters": "{}",
        },
        "version": EXPORT_VERSION,
        "is_managed_externally": True,
    }


def _dump(payload: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(payload), sort_keys=False, allow_unicode=True, width=120)


@dataclass(frozen=True)
class Assets:
    """The asset files: path in the bundle -> YAML text."""

    files: dict[str, str] = field(default_factory=dict)


def build(registry: Registry = REGISTRY, views: Sequence[View] = VIEWS) -> Assets:
    """Every asset file, from the BI views and the KPI registry (a pure function: the same input, the same bytes)."""
    by_name = {v.name: v for v in views}
    all_charts = charts(registry)
    _check(all_charts, by_name, registry)
    files = {
        # No timestamp: the files stay the same until what they say changes (Superset's own exports carry one).
        "metadata.yaml": _dump({"version": EXPORT_VERSION, "type": "assets"}),
        f"databases/{_DB_FOLDER}.yaml": _dump(_database()),
    }
    for view in views:
        files[f"datasets/{_DB_FOLDER}/{view.name}.yaml"] = _dump(_dataset(view, registry))
    for chart in all_charts:
        files[f"charts/{chart.slug}.yaml"] = _dump(_chart(chart))
    files[f"dashboards/{DASHBOARD_SLUG}.yaml"] = _dump(_dashboard(all_charts))
    return Assets(files)


def _check(all_charts: Sequence[Chart], views: Mapping[str, View], registry: Registry) -> None:
    """Every chart reads a view that exists, by its columns and metrics, and every tab fits its grid."""
    slugs = [c.slug for c in all_charts]
    if len(set(slugs)) != len(slugs):
        raise ValueError("chart slugs must be unique")
    for chart in all_charts:
        view = views[chart.view]
        known_metrics = {m.name for m in metrics_of(view, registry)}
        used = [chart.x_axis, *chart.groupby, *chart.columns, *(f.column for f in chart.filters)]
        missing = [c for c in used if c and c not in view.columns]
        missing += [m for m in chart.metrics if m not in known_metrics]
        missing += [c for c, _ in chart.order_by if c not in view.columns and c not in known_metrics]
        if missing:
            raise ValueError(f"chart {chart.slug}: {chart.view} has no {', '.join(missing)}")
        if chart.tab not in TABS or not 1 <= chart.width <= 12:
            raise ValueError(f"chart {chart.slug}: tab {chart.tab!r} or width {chart.width} is not on the dashboard")
        if chart.viz != "table" and not chart.metrics:
            raise ValueError(f"chart {chart.slug}: a {chart.viz} chart needs a metric")


def write(folder: Path, assets: Assets) -> list[Path]:
    """Write the asset files under ``folder``, removing YAML files no asset has any more; returns what it wrote."""
    written = []
    for name, text in sorted(assets.files.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    for stale in folder.rglob("*.yaml"):
        if stale.relative_to(folder).as_posix() not in assets.files:
            stale.unlink()
    return written


def read(folder: Path) -> Assets:
    """The asset files as they are under ``folder``."""
    return Assets({p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.yaml"))})
