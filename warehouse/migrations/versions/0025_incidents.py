"""Incidents: KPI alerts that share a site and overlap in time, grouped; each alert names its incident.

The next regression check groups the alerts already in the warehouse (``alerts/incidents.py``); the alerts that were
announced one by one before stay announced (their incident's digests tell only what changed since).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The BI views that read the alert table; ``warehouse.migrate.upgrade`` re-creates the views after the revisions.
_VIEWS = ("incident_timeline", "incidents", "alert_response", "alert_response_by_owner", "quality_alerts")


def _text(length: int | None = None) -> sa.types.TypeEngine:
    plain = sa.String(length) if length else sa.Text()
    return plain.with_variant(sa.String(length, collation="C") if length else sa.Text(collation="C"), "postgresql")


def _drop_views() -> None:
    bi = "bi." if op.get_bind().dialect.name == "postgresql" else "bi_"
    for view in _VIEWS:
        op.execute(f"drop view if exists {bi}{view}")


def upgrade() -> None:
    _drop_views()
    op.create_table(
        "incident",
        sa.Column("incident_id", _text(64), nullable=False),
        sa.Column("site_id", _text(40), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("status", _text(20), nullable=False),
        sa.Column("severity", _text(20), nullable=False),
        sa.Column("title", _text(200), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("open_alert_count", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", _text(64), nullable=True),
        sa.Column("notified_members", _text(), nullable=True),
        sa.Column("pipeline_run_id", _text(250), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status in ('open', 'resolved')", name=op.f("ck_incident_status")),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("incident_id", _text(64), nullable=True))
        batch.create_index(op.f("ix_alert_incident_id"), ["incident_id"])


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("alert") as batch:
        batch.drop_index(op.f("ix_alert_incident_id"))
        batch.drop_column("incident_id")
    op.drop_table("incident")
