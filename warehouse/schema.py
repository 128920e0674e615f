"""The warehouse schema as SQLAlchemy Core tables; migrations in ``warehouse/migrations`` create it.

Conventions: timestamps are UTC and stored naive (the same on SQLite and PostgreSQL); facts are keyed by
their source's natural key, so a duplicate row is impossible; every fact row carries the batch that
loaded it and a hash of its content (lineage, and change detection on reload).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.types import TypeEngine

from core.catalog import DATASETS, ColumnKind, Dataset
from core.dialect import LOAD_ORDER_INDEX, bytewise

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# landed: waiting; processing: a load holds its claim; loaded / blocked: final; failed: validating or loading raised
# (the error in ``reason``), kept out of the queue until ``qp replay`` puts it back.
LEDGER_STATUSES = ("landed", "processing", "loaded", "blocked", "failed")
UNPROCESSED_STATUSES = ("landed", "processing", "failed")

_SQL_TYPES: dict[ColumnKind, type[TypeEngine]] = {
    "str": String,
    "int": Integer,
    "float": Float,
    "date": Date,
    "datetime": DateTime,
}


def _fact_table(dataset: Dataset) -> Table:
    columns = [
        Column(name, _SQL_TYPES[kind](), primary_key=name in dataset.key, nullable=name not in dataset.required)
        for name, kind in dataset.columns.items()
    ]
    return Table(
        dataset.fact_table,
        metadata,
        *columns,
        Column("batch_id", String(120), nullable=False),
        Column("row_hash", String(32), nullable=False),
        Column("loaded_at", DateTime, nullable=False),
        *[Index(None, name) for name in dataset.indexed],
        Index(None, "batch_id", **LOAD_ORDER_INDEX),  # which days a batch touched, without a scan of the table
    )


FACT_TABLES: dict[str, Table] = {d.name: _fact_table(d) for d in DATASETS}

batch_ledger = Table(
    "batch_ledger",
    metadata,
    Column("batch_id", String(120), primary_key=True),
    Column("source", String(40), nullable=False),
    Column("dataset", String(60), nullable=False),
    Column("pipeline_run_id", String(250)),
    Column("interval_end", DateTime),
    Column("watermark_from", DateTime),
    Column("watermark_to", DateTime),
    Column("raw_path", Text, nullable=False),
    Column("raw_checksum", String(64), nullable=False),
    Column("rows_extracted", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False, server_default="0"),
    # Of the rows loaded, those that replaced an earlier version of their record (a correction at the source).
    Column("rows_updated", Integer, nullable=False, server_default="0"),
    Column("rows_quarantined", Integer, nullable=False, server_default="0"),
    Column("rows_duplicate", Integer, nullable=False, server_default="0"),
    Column("rows_deleted", Integer, nullable=False, server_default="0"),  # removed because the source deleted them
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("landed_at", DateTime, nullable=False),
    Column("processed_at", DateTime),
    Column("kpis_built_at", DateTime),  # when the KPI tables last took this batch's rows in
    # incremental (since the watermark), backfill (a re-extracted window) or replay (quarantined rows re-validated)
    Column("batch_kind", String(20), nullable=False, server_default="incremental"),
    Column("data_docs_page", Text),  # the batch's validation page in the Data Docs site
    # Which load holds the batch while it is ``processing``, since when (a claim older than the stale limit is a
    # crashed load's, and the next run takes the batch over).
    Column("claimed_by", String(250)),
    Column("claimed_at", DateTime),
    CheckConstraint(f"status in {LEDGER_STATUSES!r}", name="status"),
    # The ledger must add up once a batch is processed: every row is loaded, quarantined, a duplicate or deleted.
    CheckConstraint(
        f"status in {UNPROCESSED_STATUSES!r} "
        "or rows_extracted = rows_loaded + rows_quarantined + rows_duplicate + rows_deleted",
        name="counts_add_up",
    ),
)

source_watermark = Table(
    "source_watermark",
    metadata,
    Column("dataset", String(60), primary_key=True),
    Column("watermark", DateTime, nullable=False),
    Column("batch_id", String(120), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# What extraction noticed about a source, batch or not: skipped re-deliveries, refused or broken files, new
# columns, a source that stayed down. The run log says it once; this table keeps it.
extraction_event = Table(
    "extraction_event",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(60), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("batch_id", String(120)),  # the batch it belongs to, when one landed
    Column("pipeline_run_id", String(250)),
    Column("occurred_at", DateTime, nullable=False),
    Index(None, "dataset", "occurred_at"),
)

source_file = Table(
    "source_file",
    metadata,
    Column("dataset", String(60), primary_key=True),
    Column("checksum", String(64), primary_key=True),
    Column("file_name", Text, nullable=False),
    Column("batch_id", String(120), nullable=False),
    Column("taken_at", DateTime, nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("batch_id", String(120), primary_key=True),
    Column("source_row", Integer, primary_key=True),
    Column("dataset", String(60), nullable=False),
    Column("record_key", Text),
    Column("failed_rules", Text, nullable=False),  # JSON list of rule names with their reason
    Column("raw_record", Text, nullable=False),  # JSON object of the raw row as landed
    Column("status", String(20), nullable=False, server_default="open"),  # open, replayed or dismissed
    Column("quarantined_at", DateTime, nullable=False),
    Column("replayed_in", String(120)),  # the batch that re-validated this row (``qp quarantine replay``)
    # sha256 of the raw record: an unchanged re-delivery of a quarantined row is a duplicate, not a second entry.
    Column("record_hash", String(64)),
    # JSON {column: dimension} when the row's only faults were keys its dimensions lacked: loading them makes it
    # replayable (``ledger.orphans_of``).
    Column("awaiting_keys", Text),
    # The day the row's event date names (None when it names none): data quality by the data's day.
    Column("event_day", Date),
    Index("ix_quarantine_dataset_record_hash", "dataset", "record_hash"),
)

# Fact rows removed because their source deleted them (a SQL hard delete, an API record gone or flagged deleted),
# with the row as it was: the audit trail, and the days whose KPIs the deletion changed.
fact_deletion = Table(
    "fact_deletion",
    metadata,
    Column("dataset", String(60), primary_key=True),
    Column("record_key", String(400), primary_key=True),  # the natural key as JSON
    Column("batch_id", String(120), primary_key=True),  # the deletion batch
    Column("record", Text, nullable=False),  # the fact row as it was, JSON
    Column("deleted_at", DateTime, nullable=False),
    Index("ix_fact_deletion_batch_id", "batch_id"),
)

validation_result = Table(
    "validation_result",
    metadata,
    Column("batch_id", String(120), primary_key=True),
    Column("rule", String(200), primary_key=True),
    Column("dataset", String(60), nullable=False),
    Column("expectation_type", String(120), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("element_count", Integer),
    Column("unexpected_count", Integer),
    Column("unexpected_percent", Float),
    Column("observed_value", Text),
    Column("validated_at", DateTime, nullable=False),
    # False when a context check (freshness, volume, distribution) had no bounds: no history yet, or a backfill
    Column("judged", Boolean, nullable=False, server_default=true()),
)

kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("kpi", String(40), primary_key=True),
    Column("kpi_date", Date, primary_key=True),
    Column("site_id", String(40), primary_key=True),
    Column("line_id", String(40), primary_key=True),
    Column("step_id", String(40), primary_key=True),
    Column("grain", String(20), nullable=False),
    Column("numerator", Float, nullable=False),
    Column("denominator", Float, nullable=False),
    Column("value", Float),  # NULL when the denominator is zero
    Column("pipeline_run_id", String(250), nullable=False),
    Column("computed_at", DateTime, nullable=False),
)

kpi_period = Table(
    "kpi_period",
    metadata,
    Column("kpi", String(40), primary_key=True),
    Column("period", String(10), primary_key=True),  # week (ISO, starting Monday) or month
    Column("period_start", Date, primary_key=True),
    Column("site_id", String(40), primary_key=True),
    Column("line_id", String(40), primary_key=True),
    Column("step_id", String(40), primary_key=True),
    Column("grain", String(20), nullable=False),
    Column("numerator", Float, nullable=False),  # summed over the period's days
    Column("denominator", Float, nullable=False),
    Column("value", Float),  # from the summed counts, never an average of daily values; NULL for a zero denominator
    Column("pipeline_run_id", String(250), nullable=False),
    Column("computed_at", DateTime, nullable=False),
    CheckConstraint("period in ('week', 'month')", name="period"),
)

customer_snapshot = Table(
    "fact_customer_snapshot",
    metadata,
    Column("snapshot_date", Date, primary_key=True),
    Column("customer_id", String, primary_key=True),
    Column("site_id", String, nullable=False),
    Column("segment", String),
    Column("is_active", Boolean, nullable=False),  # an account at the end of the day
    Column("is_new", Boolean, nullable=False),  # acquired that day
    Column("churned", Boolean, nullable=False),  # churned that day
    Column("computed_at", DateTime, nullable=False),
    Index(None, "site_id", "snapshot_date"),
)

dim_date = Table(
    "dim_date",
    metadata,
    Column("date_day", Date, primary_key=True),
    Column("year", Integer, nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("month", Integer, nullable=False),
    Column("month_name", String(10), nullable=False),
    Column("iso_year", Integer, nullable=False),
    Column("iso_week", Integer, nullable=False),
    Column("week_start", Date, nullable=False),  # the Monday of the ISO week
    Column("day_of_week", Integer, nullable=False),  # 1 = Monday
    Column("day_name", String(10), nullable=False),
    Column("is_weekend", Boolean, nullable=False),
)

training_outcomes = Table(
    "training_outcomes",
    metadata,
    Column("period", String(10), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("site_id", String(40), nullable=False),
    Column("line_id", String(40), primary_key=True),
    Column("training_compliance", Float),
    Column("training_completion", Float),
    Column("first_pass_yield", Float),
    Column("dpmo", Float),
    Column("complaints", Float),
    Column("compliance_fpy_correlation", Float),  # trailing 8 periods; NULL with fewer than 4 pairs
    Column("computed_at", DateTime, nullable=False),
)

# Regression alerts: one per episode of a rule at a place (fingerprint = rule and place), from the day it began;
# later adverse days update it; resolved after the configured days back in control (alerts/evaluate.py).
alert = Table(
    "alert",
    metadata,
    Column("alert_id", String(64), primary_key=True),  # sha256 of the fingerprint and the first day
    Column("fingerprint", String(64), nullable=False),
    Column("rule_name", String(80), nullable=False),  # the rule in alerts/rules.yaml
    Column("kpi", String(40), nullable=False),
    Column("method", String(20), nullable=False),
    Column("rule", String(120), nullable=False),  # what fired, in words
    Column("severity", String(20), nullable=False),
    Column("site_id", String(40), nullable=False),
    Column("line_id", String(40), nullable=False),
    Column("step_id", String(40), nullable=False),
    Column("since_date", Date, nullable=False),
    Column("last_date", Date, nullable=False),  # the latest adverse day
    Column("days_adverse", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("centre_line", Float, nullable=False),
    Column("limit_value", Float, nullable=False),  # the line the fired rule judged against (alerts.evaluate)
    Column("sample_size", Float, nullable=False),
    Column("contributors", Text, nullable=False),  # JSON: top defect codes, or the segments that moved
    Column("subject", Text, nullable=False),  # the one-line summary a notification leads with
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open, acknowledged, resolved
    Column("resolved_date", Date),
    Column("acknowledged_by", String(120)),
    Column("acknowledged_at", DateTime),
    Column("pipeline_run_id", String(250), nullable=False),
    Column("raised_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    # Triage (qp alerts assign / cause): who works on it, the assignable cause and the corrective action (codes from
    # the rules file's `triage` lists), and when it was last triaged.
    Column("assignee", String(120)),
    Column("cause_code", String(60)),
    Column("action_code", String(60)),
    Column("triaged_at", DateTime),
    Column("incident_id", String(64)),  # the incident it belongs to (alerts/incidents.py)
    UniqueConstraint("fingerprint", "since_date"),
    Index(None, "incident_id"),
    CheckConstraint("status in ('open', 'acknowledged', 'resolved')", name="status"),
)

# Incidents: the alerts of one site whose active days overlap or come within `incidents.gap_days` of each other
# (company-wide alerts group only with each other); notified as one digest per incident and channel.
incident = Table(
    "incident",
    metadata,
    Column("incident_id", String(64), primary_key=True),  # from its earliest member alert; kept as alerts join
    Column("site_id", String(40), nullable=False),  # ALL for company-wide alerts
    Column("first_date", Date, nullable=False),  # the earliest member's first adverse day
    Column("last_date", Date, nullable=False),  # the latest day a member was active
    Column("status", String(20), nullable=False),  # open (a member is open or acknowledged) or resolved
    Column("severity", String(20), nullable=False),  # the worst of its members'
    Column("title", String(200), nullable=False),  # "S1: fraction defective on S1-L2, NPS, ..."
    Column("alert_count", Integer, nullable=False),
    Column("open_alert_count", Integer, nullable=False),
    Column("merged_into_id", String(64)),  # a later alert bridged it into this (older) incident
    # The members and their states as the last digest queued told them (JSON); NULL while never announced.
    Column("notified_members", Text),
    Column("pipeline_run_id", String(250), nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    CheckConstraint("status in ('open', 'resolved')", name="status"),
)

# Notes on an alert (qp alerts note), oldest first: what was found, what was done.
alert_note = Table(
    "alert_note",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("noted_at", DateTime, primary_key=True),
    Column("author", String(120), nullable=False),
    Column("note", Text, nullable=False),
)

# Days a person took out of a rule's baselines at a place (qp alerts exclude): a judged day with a known cause that
# would otherwise widen the limits of the days after it (the days a rule flags stay out on their own).
baseline_exclusion = Table(
    "baseline_exclusion",
    metadata,
    Column("rule_name", String(80), primary_key=True),
    Column("site_id", String(40), primary_key=True),
    Column("line_id", String(40), primary_key=True),
    Column("step_id", String(40), primary_key=True),
    Column("kpi_date", Date, primary_key=True),
    Column("alert_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("excluded_by", String(120), nullable=False),
    Column("excluded_at", DateTime, nullable=False),
)

# Every day each rule judged, with the centre line and limits it was judged against: the control charts, as the
# rules saw them (rebuilt by every regression check).
spc_point = Table(
    "spc_point",
    metadata,
    Column("rule_name", String(80), primary_key=True),
    Column("site_id", String(40), primary_key=True),
    Column("line_id", String(40), primary_key=True),
    Column("step_id", String(40), primary_key=True),
    Column("kpi_date", Date, primary_key=True),
    Column("kpi", String(40), nullable=False),
    Column("method", String(20), nullable=False),
    Column("value", Float, nullable=False),
    Column("centre_line", Float, nullable=False),
    Column("lower_limit", Float, nullable=False),
    Column("upper_limit", Float, nullable=False),
    Column("sample_size", Float, nullable=False),
    Column("fired", String(120), nullable=False),  # what fired in the adverse direction, as a code, or ""
    Column("adverse", Boolean, nullable=False),
    Column("computed_at", DateTime, nullable=False),
)

# The notification outbox: one row per incident digest (opened, updated, resolved) or data-quality alert event
# (opened, resolved), and channel. Pending rows are retried on every run until the channel takes them; a sent row
# is never sent again.
notification = Table(
    "notification",
    metadata,
    Column("notification_id", String(64), primary_key=True),  # sha256 of kind, alert or incident, event and channel
    Column(
        "alert_kind", String(20), nullable=False
    ),  # kpi_incident (kpi_regression before 0025), data_quality, task_failure
    Column("alert_id", String(64), nullable=False),  # the incident's id for kpi_incident
    Column("event", String(20), nullable=False),  # opened, updated, resolved (failed for a task)
    Column("channel", String(80), nullable=False),  # the Airflow connection id
    Column("severity", String(20), nullable=False),
    Column("payload", Text, nullable=False),  # the Notification as JSON: exactly what is sent
    Column("status", String(20), nullable=False),  # pending or sent
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("last_attempt_at", DateTime),
    Column("sent_at", DateTime),
    Index(None, "status"),
    CheckConstraint("status in ('pending', 'sent')", name="status"),
)

# KPI days that a blocked batch holds back: they are not rebuilt while the batch is unresolved, so no KPI is
# published from a day with missing data. Released when the batch loads, or its rows are replayed or dismissed;
# the released days are rebuilt then.
kpi_hold = Table(
    "kpi_hold",
    metadata,
    Column("family", String(20), primary_key=True),
    Column("kpi_date", Date, primary_key=True),
    Column("batch_id", String(120), primary_key=True),
    Column("dataset", String(60), nullable=False),
    Column("reason", Text, nullable=False),
    Column("held_at", DateTime, nullable=False),
    Column("released_at", DateTime),
)

# Data-quality alerts: validation warnings (one alert per dataset and rule, updated while the rule keeps failing,
# resolved by the next batch that passes it) and blocked batches (one per batch, resolved with its hold).
data_quality_alert = Table(
    "data_quality_alert",
    metadata,
    Column("alert_id", String(64), primary_key=True),  # fingerprint: sha256 of kind, dataset and rule or batch
    Column("kind", String(20), nullable=False),  # warning or blocked_batch
    Column("dataset", String(60), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("first_batch_id", String(120), nullable=False),
    Column("last_batch_id", String(120), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("observed_value", Text),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open or resolved
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
)

# Source freshness (warehouse/freshness.py): each dataset's newest delivery against its deadline, as the latest run's
# clock judged it. watched_as: its own deadline (dataset), its source's (source: any fact of the source counts), or
# none (off). The state is written by the ingest runs, so a source that stays silent is judged by its nightly run.
FRESHNESS_STATES = ("fresh", "late", "never_delivered", "not_watched")
source_freshness = Table(
    "source_freshness",
    metadata,
    Column("dataset", String(60), primary_key=True),
    Column("source", String(40), nullable=False),
    Column("watched_as", String(20), nullable=False),  # dataset, source or off
    Column("rhythm", String(40)),  # the days data is due: daily, weekdays, mon-sat, ...; null when off
    Column("last_delivery_at", DateTime),  # the dataset's newest delivery: its data's newest change time
    Column("last_batch_id", String(120)),  # the batch that delivered it
    Column("deadline_basis_at", DateTime),  # the delivery the deadline counts from (or when watching began)
    Column("deadline_at", DateTime),  # when the next due day's data is late
    Column("state", String(20), nullable=False),
    Column("is_overdue", Boolean, nullable=False),  # past the deadline: late, or never delivered in time
    Column("watched_since", DateTime),  # the first run that watched it: the basis while nothing was ever delivered
    Column("evaluated_at", DateTime, nullable=False),  # the clock of the run that judged it
    CheckConstraint(f"state in {FRESHNESS_STATES!r}", name="state"),
)


# Named changes whose effect is judged (KPIS.md: before/after of an improvement), from ``qp improvement add``
# (origin cli) or the improvements file (origin file). The scope reads ALL above the level it names.
improvement = Table(
    "improvement",
    metadata,
    Column("improvement_id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("change_date", Date, nullable=False),  # the first day of the after stage
    Column("site_id", String(40), nullable=False),
    Column("line_id", String(40), nullable=False),
    Column("step_id", String(40), nullable=False),
    Column("kpis", Text, nullable=False),  # JSON list of the KPI codes judged
    Column("window_days", Integer, nullable=False),  # days per stage
    Column("description", Text),
    Column("origin", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("origin in ('cli', 'file')", name="origin"),
)

# Each improvement and KPI before and after the change, rebuilt by every evaluation (pipeline/improvements.py).
improvement_effect = Table(
    "improvement_effect",
    metadata,
    Column("improvement_id", String(80), primary_key=True),
    Column("kpi", String(40), primary_key=True),
    Column("grain", String(20), nullable=False),
    Column("site_id", String(40), nullable=False),
    Column("line_id", String(40), nullable=False),
    Column("step_id", String(40), nullable=False),
    Column("before_start", Date, nullable=False),
    Column("before_end", Date, nullable=False),
    Column("after_start", Date, nullable=False),
    Column("after_end", Date, nullable=False),
    Column("before_days", Integer, nullable=False),
    Column("after_days", Integer, nullable=False),
    Column("before_value", Float),
    Column("after_value", Float),
    Column("difference", Float),  # after minus before, in the KPI's units
    Column("test", String(40), nullable=False),
    Column("statistic", Float),
    Column("p_value", Float),
    Column("ci_low", Float),  # 95% interval of the difference
    Column("ci_high", Float),
    Column("before_cl", Float),
    Column("before_lcl", Float),
    Column("before_ucl", Float),
    Column("after_cl", Float),
    Column("after_lcl", Float),
    Column("after_ucl", Float),
    Column("after_beyond_favourable", Integer, nullable=False),
    Column("after_beyond_adverse", Integer, nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("copq_per_day_before", Float),
    Column("copq_per_day_after", Float),
    Column("external_failure_per_day_before", Float),
    Column("external_failure_per_day_after", Float),
    Column("prevention_per_day_before", Float),
    Column("prevention_per_day_after", Float),
    Column("training_per_day_before", Float),
    Column("training_per_day_after", Float),
    Column("data_flags", Text, nullable=False),  # why the comparison may be a data artefact; "" when clean
    Column("computed_at", DateTime, nullable=False),
    CheckConstraint("verdict in ('improved', 'worsened', 'no clear change', 'too early')", name="verdict"),
)


# Process capability per product, process step and month against the specs of QP_CAPABILITY_SPECS (Cp, Cpk, Cpm with
# sigma within: MR-bar / 1.128 of consecutive runs; Pp, Ppk with the sample SD), rebuilt by every KPI run.
process_capability = Table(
    "process_capability",
    metadata,
    Column("product_id", String(40), primary_key=True),
    Column("step_id", String(40), primary_key=True),
    Column("characteristic", String(40), primary_key=True),
    Column("month_start", Date, primary_key=True),
    Column("lsl", Float),
    Column("usl", Float),
    Column("target", Float),
    Column("runs", Integer, nullable=False),
    *[
        Column(name, Float)
        for name in (
            "mean",
            "sigma_within",
            "sigma_overall",
            "cp",
            "cpl",
            "cpu",
            "cpk",
            "cpm",
            "pp",
            "ppl",
            "ppu",
            "ppk",
        )
    ],  # fmt: skip
    Column("computed_at", DateTime, nullable=False),
)

# Training as a leading indicator: per line and leading rule, the lag at which the outcome KPI follows the leading
# one most closely over the line's whole history (transforms/leading.py), rebuilt by every alert check.
training_lead = Table(
    "training_lead",
    metadata,
    Column("site_id", String(40), nullable=False),
    Column("line_id", String(40), primary_key=True),
    Column("kpi", String(40), primary_key=True),
    Column("outcome_kpi", String(40), primary_key=True),
    Column("lag_days", Integer),  # NULL: no relation in the expected direction
    Column("correlation", Float),
    Column("p_value", Float),
    Column("pair_count", Integer),
    Column("effective_pairs", Float),
    Column("is_established", Boolean, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("computed_at", DateTime, nullable=False),
)


def _bytewise_strings_on_postgresql() -> None:
    """Every string column compares bytewise, on PostgreSQL too (``core.dialect.bytewise`` says why)."""
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, String) and column.type.collation is None:
                column.type = bytewise(column.type)


_bytewise_strings_on_postgresql()
