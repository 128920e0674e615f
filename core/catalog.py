"""The contract of every source dataset: its source system, natural key, columns and their types.

Extraction, conforming, validation and loading all read this one catalog, so a column is declared once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["str", "int", "float", "date", "datetime"]
SourceName = Literal["qms", "finance", "survey", "lms"]


@dataclass(frozen=True)
class Dataset:
    name: str
    source: SourceName
    key: tuple[str, ...]
    columns: dict[str, ColumnKind]
    required: tuple[str, ...]
    fact_table: str
    # Column that orders changes in the source; the extraction watermark advances on it.
    watermark_column: str | None = "updated_at"
    # Columns whose values may be missing in a valid row.
    optional: tuple[str, ...] = field(default=())
    # Columns the warehouse indexes: how KPI builds find the day partitions a batch touched.
    indexed: tuple[str, ...] = field(default=())
    # The column that dates the event a fact row records: a value later than the run's interval end (plus the
    # allowed skew) or earlier than the dataset's floor is implausible, and the row is quarantined.
    event_date: str | None = None

    @property
    def is_dimension(self) -> bool:
        """Master data the facts refer to: loaded before any fact batch, so referential checks see it."""
        return self.fact_table.startswith("dim_")

    @property
    def asset_name(self) -> str:
        return f"qualitypulse.raw.{self.name}"


PRODUCTS = Dataset(
    name="products",
    source="qms",
    key=("product_id",),
    columns={
        "product_id": "str",
        "product_name": "str",
        "opportunities_per_unit": "int",
        "route": "str",  # the product's process steps in order, comma-separated
        "updated_at": "datetime",
    },
    required=("product_id", "product_name", "opportunities_per_unit", "updated_at"),
    optional=("route",),
    fact_table="dim_product",
)

SITES = Dataset(
    name="sites",
    source="qms",
    key=("site_id",),
    columns={"site_id": "str", "site_name": "str", "region": "str", "updated_at": "datetime"},
    required=("site_id", "site_name", "updated_at"),
    optional=("region",),
    fact_table="dim_site",
)

LINES = Dataset(
    name="lines",
    source="qms",
    key=("line_id",),
    columns={"line_id": "str", "site_id": "str", "line_name": "str", "owner_email": "str", "updated_at": "datetime"},
    required=("line_id", "site_id", "line_name", "updated_at"),
    optional=("owner_email",),
    fact_table="dim_line",
)

PROCESS_STEPS = Dataset(
    name="process_steps",
    source="qms",
    key=("step_id",),
    columns={"step_id": "str", "step_name": "str", "step_sequence": "int", "updated_at": "datetime"},
    required=("step_id", "step_name", "step_sequence", "updated_at"),
    fact_table="dim_process_step",
)

DEFECT_CODES = Dataset(
    name="defect_codes",
    source="qms",
    key=("defect_code",),
    columns={"defect_code": "str", "description": "str", "category": "str", "updated_at": "datetime"},
    required=("defect_code", "description", "category", "updated_at"),
    fact_table="dim_defect_code",
)

PRODUCTION_RUNS = Dataset(
    name="production_runs",
    source="qms",
    key=("run_id",),
    columns={
        "run_id": "str",
        "site_id": "str",
        "line_id": "str",
        "step_id": "str",
        "product_id": "str",
        "production_date": "date",
        "shift": "str",
        "started_at": "datetime",
        "finished_at": "datetime",
        "units_entered": "int",
        "units_first_pass": "int",
        "units_reworked": "int",
        "units_scrapped": "int",
        "units_inspected": "int",
        "units_defective": "int",
        # OEE inputs: planned production time (breaks excluded), unplanned stops, ideal seconds per unit.
        "planned_minutes": "float",
        "downtime_minutes": "float",
        "ideal_cycle_seconds": "float",
        "updated_at": "datetime",
    },
    required=(
        "run_id",
        "site_id",
        "line_id",
        "step_id",
        "product_id",
        "production_date",
        "started_at",
        "finished_at",
        "units_entered",
        "units_first_pass",
        "units_inspected",
        "units_defective",
        "updated_at",
    ),
    fact_table="fact_production_run",
    event_date="production_date",
    indexed=("production_date",),
)

DEFECTS = Dataset(
    name="defects",
    source="qms",
    key=("defect_id",),
    columns={
        "defect_id": "str",
        "run_id": "str",
        "defect_code": "str",
        "defect_count": "int",
        "recorded_at": "datetime",
        "updated_at": "datetime",
    },
    required=("defect_id", "run_id", "defect_code", "defect_count", "recorded_at", "updated_at"),
    fact_table="fact_defect",
    event_date="recorded_at",
    # The defects of a run: an incremental KPI build totals the defects of the rebuilt week's and month's runs
    # (without this index, a scan of every defect: 0.6 s of a one-day build on the benchmark year's 5 M rows).
    indexed=("run_id",),
)

FEEDBACK = Dataset(
    name="feedback",
    source="survey",
    key=("response_id",),
    columns={
        "response_id": "str",
        "responded_at": "datetime",
        "customer_id": "str",
        "site_id": "str",
        "nps_score": "int",
        "csat_score": "int",
        "comment": "str",
    },
    required=("response_id", "responded_at", "customer_id", "site_id", "nps_score"),
    optional=("csat_score", "comment"),
    fact_table="fact_feedback",
    event_date="responded_at",
    watermark_column=None,  # file drops: each file is taken once, by checksum
    indexed=("responded_at",),
)

TRAINING_ASSIGNMENTS = Dataset(
    name="training_assignments",
    source="lms",
    key=("assignment_id",),
    columns={
        "assignment_id": "str",
        "employee_id": "str",
        "site_id": "str",
        "line_id": "str",
        "course_id": "str",
        "assigned_on": "date",
        "due_on": "date",
        "completed_on": "date",
        "status": "str",
        "score": "float",
        "updated_at": "datetime",
    },
    required=(
        "assignment_id",
        "employee_id",
        "site_id",
        "line_id",
        "course_id",
        "assigned_on",
        "due_on",
        "status",
        "updated_at",
    ),
    optional=("completed_on", "score"),
    fact_table="fact_training_assignment",
    event_date="assigned_on",
    indexed=("due_on", "updated_at"),  # updated_at: the LMS data's as-of day, max() by index
)

COMPLAINTS = Dataset(
    name="complaints",
    source="qms",
    key=("complaint_id",),
    columns={
        "complaint_id": "str",
        "customer_id": "str",
        "site_id": "str",
        "line_id": "str",
        "product_id": "str",
        "received_on": "date",
        "defect_code": "str",
        "updated_at": "datetime",
    },
    required=("complaint_id", "customer_id", "site_id", "product_id", "received_on", "updated_at"),
    optional=("line_id", "defect_code"),
    fact_table="fact_complaint",
    event_date="received_on",
    indexed=("received_on",),
)

COST_LEDGER = Dataset(
    name="cost_ledger",
    source="finance",
    key=("entry_id",),
    columns={
        "entry_id": "str",
        "site_id": "str",
        "line_id": "str",
        "booked_on": "date",
        "category": "str",  # prevention, appraisal, internal_failure, external_failure
        "cost_element": "str",
        "amount": "float",
        "updated_at": "datetime",
    },
    required=("entry_id", "site_id", "booked_on", "category", "cost_element", "amount", "updated_at"),
    optional=("line_id",),
    fact_table="fact_cost_ledger",
    event_date="booked_on",
    indexed=("booked_on",),
)

SHIPMENTS = Dataset(
    name="shipments",
    source="finance",
    key=("shipment_id",),
    columns={
        "shipment_id": "str",
        "customer_id": "str",
        "site_id": "str",
        "product_id": "str",
        "shipped_on": "date",
        "units": "int",
        "revenue": "float",
        "updated_at": "datetime",
    },
    required=("shipment_id", "customer_id", "site_id", "product_id", "shipped_on", "units", "revenue", "updated_at"),
    fact_table="fact_shipment",
    event_date="shipped_on",
    indexed=("shipped_on",),
)

CUSTOMER_ACCOUNTS = Dataset(
    name="customer_accounts",
    source="finance",
    key=("customer_id",),
    columns={
        "customer_id": "str",
        "customer_name": "str",
        "site_id": "str",
        "segment": "str",
        "acquired_on": "date",
        "churned_on": "date",
        "updated_at": "datetime",
    },
    required=("customer_id", "customer_name", "site_id", "acquired_on", "updated_at"),
    optional=("segment", "churned_on"),
    fact_table="dim_customer",
)

EMPLOYEES = Dataset(
    name="employees",
    source="lms",
    key=("employee_id",),
    columns={
        "employee_id": "str",
        "site_id": "str",
        "line_id": "str",
        "role": "str",
        "hired_on": "date",
        "left_on": "date",
        "updated_at": "datetime",
    },
    required=("employee_id", "site_id", "line_id", "role", "hired_on", "updated_at"),
    optional=("left_on",),
    fact_table="dim_employee",
)

COURSES = Dataset(
    name="courses",
    source="lms",
    key=("course_id",),
    columns={
        "course_id": "str",
        "title": "str",
        "hours": "float",
        "pass_mark": "float",
        "validity_days": "int",
        "updated_at": "datetime",
    },
    required=("course_id", "title", "hours", "pass_mark", "validity_days", "updated_at"),
    fact_table="dim_course",
)

ROLE_REQUIREMENTS = Dataset(
    name="role_requirements",
    source="lms",
    key=("role", "course_id"),
    columns={"role": "str", "course_id": "str", "updated_at": "datetime"},
    required=("role", "course_id", "updated_at"),
    fact_table="dim_role_requirement",
)

# Load order matters: dimensions before the facts that reference them.
DATASETS: tuple[Dataset, ...] = (
    SITES,
    LINES,
    PROCESS_STEPS,
    DEFECT_CODES,
    PRODUCTS,
    CUSTOMER_ACCOUNTS,
    EMPLOYEES,
    COURSES,
    ROLE_REQUIREMENTS,
    PRODUCTION_RUNS,
    DEFECTS,
    COMPLAINTS,
    COST_LEDGER,
    SHIPMENTS,
    FEEDBACK,
    TRAINING_ASSIGNMENTS,
)
BY_NAME = {d.name: d for d in DATASETS}
SOURCES: tuple[SourceName, ...] = ("qms", "finance", "survey", "lms")


def datasets_of(source: str) -> tuple[Dataset, ...]:
    return tuple(d for d in DATASETS if d.source == source)
