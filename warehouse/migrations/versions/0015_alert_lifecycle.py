"""Regression alerts with a lifecycle (one per episode: open, acknowledged, resolved), the notification outbox, and
the judged points of every rule (the control charts as the rules saw them).

The old alert table held one row per out-of-control day; alerts are derived from the KPI tables, so the next
regression check rebuilds them as episodes.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _string(length: int) -> sa.types.TypeEngine:
    # The collation follows revision 0010: strings compare bytewise on PostgreSQL.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _drop_alert_view() -> None:
    # The BI view reads the table; ``warehouse.migrate.upgrade`` re-creates the views after the revisions.
    name = "bi.quality_alerts" if op.get_bind().dialect.name == "postgresql" else "bi_quality_alerts"
    op.execute(f"drop view if exists {name}")


def upgrade() -> None:
    _drop_alert_view()
    op.drop_table("alert")
    op.create_table(
        "alert",
        sa.Column("alert_id", _string(64), nullable=False),
        sa.Column("fingerprint", _string(64), nullable=False),
        sa.Column("rule_name", _string(80), nullable=False),
        sa.Column("kpi", _string(40), nullable=False),
        sa.Column("method", _string(20), nullable=False),
        sa.Column("rule", _string(120), nullable=False),
        sa.Column("severity", _string(20), nullable=False),
        sa.Column("site_id", _string(40), nullable=False),
        sa.Column("line_id", _string(40), nullable=False),
        sa.Column("step_id", _string(40), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("days_adverse", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("centre_line", sa.Float(), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("sample_size", sa.Float(), nullable=False),
        sa.Column("contributors", _TEXT, nullable=False),
        sa.Column("subject", _TEXT, nullable=False),
        sa.Column("message", _TEXT, nullable=False),
        sa.Column("status", _string(20), nullable=False),
        sa.Column("resolved_date", sa.Date(), nullable=True),
        sa.Column("acknowledged_by", _string(120), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("pipeline_run_id", _string(250), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status in ('open', 'acknowledged', 'resolved')", name=op.f("ck_alert_status")),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert")),
        sa.UniqueConstraint("fingerprint", "since_date", name=op.f("uq_alert_fingerprint_since_date")),
    )
    op.create_table(
        "notification",
        sa.Column("notification_id", _string(64), nullable=False),
        sa.Column("alert_kind", _string(20), nullable=False),
        sa.Column("alert_id", _string(64), nullable=False),
        sa.Column("event", _string(20), nullable=False),
        sa.Column("channel", _string(80), nullable=False),
        sa.Column("severity", _string(20), nullable=False),
        sa.Column("payload", _TEXT, nullable=False),
        sa.Column("status", _string(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", _TEXT, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status in ('pending', 'sent')", name=op.f("ck_notification_status")),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notification")),
    )
    op.create_index(op.f("ix_notification_status"), "notification", ["status"])
    op.create_table(
        "spc_point",
        sa.Column("rule_name", _string(80), nullable=False),
        sa.Column("site_id", _string(40), nullable=False),
        sa.Column("line_id", _string(40), nullable=False),
        sa.Column("step_id", _string(40), nullable=False),
        sa.Column("kpi_date", sa.Date(), nullable=False),
        sa.Column("kpi", _string(40), nullable=False),
        sa.Column("method", _string(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("centre_line", sa.Float(), nullable=False),
        sa.Column("lower_limit", sa.Float(), nullable=False),
        sa.Column("upper_limit", sa.Float(), nullable=False),
        sa.Column("sample_size", sa.Float(), nullable=False),
        sa.Column("fired", _string(120), nullable=False),
        sa.Column("adverse", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule_name", "site_id", "line_id", "step_id", "kpi_date", name=op.f("pk_spc_point")),
    )


def downgrade() -> None:
    _drop_alert_view()
    name = "bi.control_charts" if op.get_bind().dialect.name == "postgresql" else "bi_control_charts"
    op.execute(f"drop view if exists {name}")
    op.drop_table("spc_point")
    op.drop_index(op.f("ix_notification_status"), table_name="notification")
    op.drop_table("notification")
    op.drop_table("alert")
    op.create_table(
        "alert",
        sa.Column("alert_id", _string(64), nullable=False),
        sa.Column("kpi", _string(40), nullable=False),
        sa.Column("rule", _string(80), nullable=False),
        sa.Column("site_id", _string(40), nullable=False),
        sa.Column("line_id", _string(40), nullable=False),
        sa.Column("step_id", _string(40), nullable=False),
        sa.Column("alert_date", sa.Date(), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("centre_line", sa.Float(), nullable=False),
        sa.Column("lower_limit", sa.Float(), nullable=False),
        sa.Column("upper_limit", sa.Float(), nullable=False),
        sa.Column("sample_size", sa.Float(), nullable=False),
        sa.Column("top_defect_codes", _TEXT, nullable=False),
        sa.Column("message", _TEXT, nullable=False),
        sa.Column("status", _string(20), server_default="open", nullable=False),
        sa.Column("pipeline_run_id", _string(250), nullable=False),
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
