"""Initial warehouse schema: facts, batch ledger, watermarks, quarantine, validation results, KPIs, alerts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("kpi", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.String(length=40), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("alert_date", sa.Date(), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("centre_line", sa.Float(), nullable=False),
        sa.Column("lower_limit", sa.Float(), nullable=False),
        sa.Column("upper_limit", sa.Float(), nullable=False),
        sa.Column("sample_size", sa.Float(), nullable=False),
        sa.Column("top_defect_codes", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=250), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert")),
        sa.UniqueConstraint(
            "kpi",
            "rule",
            "site_id",
            "line_id",
            "step_id",
            "alert_date",
            name=op.f("uq_alert_kpi_rule_site_id_line_id_step_id_alert_date"),
        ),
    )
    op.create_table(
        "batch_ledger",
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=250), nullable=True),
        sa.Column("interval_end", sa.DateTime(), nullable=True),
        sa.Column("watermark_from", sa.DateTime(), nullable=True),
        sa.Column("watermark_to", sa.DateTime(), nullable=True),
        sa.Column("raw_path", sa.Text(), nullable=False),
        sa.Column("raw_checksum", sa.String(length=64), nullable=False),
        sa.Column("rows_extracted", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("landed_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status = 'landed' or rows_extracted = rows_loaded + rows_quarantined + rows_duplicate",
            name=op.f("ck_batch_ledger_counts_add_up"),
        ),
        sa.CheckConstraint("status in ('landed', 'loaded', 'blocked')", name=op.f("ck_batch_ledger_status")),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_ledger")),
    )
    op.create_table(
        "dim_product",
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("product_name", sa.String(), nullable=False),
        sa.Column("opportunities_per_unit", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_dim_product")),
    )
    op.create_table(
        "fact_defect",
        sa.Column("defect_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("defect_code", sa.String(), nullable=False),
        sa.Column("defect_count", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("defect_id", name=op.f("pk_fact_defect")),
    )
    op.create_table(
        "fact_feedback",
        sa.Column("response_id", sa.String(), nullable=False),
        sa.Column("responded_at", sa.DateTime(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("nps_score", sa.Integer(), nullable=False),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(), nullable=True),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_fact_feedback")),
    )
    op.create_table(
        "fact_production_run",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_id", sa.String(), nullable=False),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("production_date", sa.Date(), nullable=False),
        sa.Column("shift", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("units_entered", sa.Integer(), nullable=False),
        sa.Column("units_first_pass", sa.Integer(), nullable=False),
        sa.Column("units_reworked", sa.Integer(), nullable=True),
        sa.Column("units_scrapped", sa.Integer(), nullable=True),
        sa.Column("units_inspected", sa.Integer(), nullable=False),
        sa.Column("units_defective", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_fact_production_run")),
    )
    op.create_table(
        "fact_training_assignment",
        sa.Column("assignment_id", sa.String(), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_id", sa.String(), nullable=False),
        sa.Column("course_id", sa.String(), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_fact_training_assignment")),
    )
    op.create_table(
        "kpi_daily",
        sa.Column("kpi", sa.String(length=40), nullable=False),
        sa.Column("kpi_date", sa.Date(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("line_id", sa.String(length=40), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("grain", sa.String(length=20), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=False),
        sa.Column("denominator", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=250), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kpi", "kpi_date", "site_id", "line_id", "step_id", name=op.f("pk_kpi_daily")),
    )
    op.create_table(
        "quarantine",
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=True),
        sa.Column("failed_rules", sa.Text(), nullable=False),
        sa.Column("raw_record", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "source_row", name=op.f("pk_quarantine")),
    )
    op.create_table(
        "source_file",
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "checksum", name=op.f("pk_source_file")),
    )
    op.create_table(
        "source_watermark",
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("watermark", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", name=op.f("pk_source_watermark")),
    )
    op.create_table(
        "validation_result",
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("expectation_type", sa.String(length=120), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("element_count", sa.Integer(), nullable=True),
        sa.Column("unexpected_count", sa.Integer(), nullable=True),
        sa.Column("unexpected_percent", sa.Float(), nullable=True),
        sa.Column("observed_value", sa.Text(), nullable=True),
        sa.Column("validated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "rule", name=op.f("pk_validation_result")),
    )


def downgrade() -> None:
    op.drop_table("validation_result")
    op.drop_table("source_watermark")
    op.drop_table("source_file")
    op.drop_table("quarantine")
    op.drop_table("kpi_daily")
    op.drop_table("fact_training_assignment")
    op.drop_table("fact_production_run")
    op.drop_table("fact_feedback")
    op.drop_table("fact_defect")
    op.drop_table("dim_product")
    op.drop_table("batch_ledger")
    op.drop_table("alert")
