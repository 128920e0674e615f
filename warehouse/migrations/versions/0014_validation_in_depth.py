"""Validation in depth: batch kinds and Data Docs pages in the ledger, KPI holds, data-quality alerts.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _string(length: int) -> sa.types.TypeEngine:
    # The collation follows revision 0010: strings compare bytewise on PostgreSQL.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("batch_ledger") as batch_op:
        batch_op.add_column(sa.Column("batch_kind", _string(20), nullable=False, server_default="incremental"))
        batch_op.add_column(sa.Column("data_docs_page", _TEXT))
    with op.batch_alter_table("validation_result") as batch_op:
        batch_op.add_column(sa.Column("judged", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "kpi_hold",
        sa.Column("family", _string(20), nullable=False),
        sa.Column("kpi_date", sa.Date(), nullable=False),
        sa.Column("batch_id", _string(120), nullable=False),
        sa.Column("dataset", _string(60), nullable=False),
        sa.Column("reason", _TEXT, nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("family", "kpi_date", "batch_id", name=op.f("pk_kpi_hold")),
    )
    op.create_table(
        "data_quality_alert",
        sa.Column("alert_id", _string(64), nullable=False),
        sa.Column("kind", _string(20), nullable=False),
        sa.Column("dataset", _string(60), nullable=False),
        sa.Column("rule", _string(200), nullable=False),
        sa.Column("severity", _string(20), nullable=False),
        sa.Column("first_batch_id", _string(120), nullable=False),
        sa.Column("last_batch_id", _string(120), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("observed_value", _TEXT, nullable=True),
        sa.Column("message", _TEXT, nullable=False),
        sa.Column("status", _string(20), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_data_quality_alert")),
    )


def downgrade() -> None:
    # The BI views select every ledger column; ``warehouse.migrate.upgrade`` re-creates them.
    for view in ("batch_ledger", "data_quality", "data_quality_daily", "kpi_holds", "data_quality_alerts"):
        name = f"bi.{view}" if op.get_bind().dialect.name == "postgresql" else f"bi_{view}"
        op.execute(f"drop view if exists {name}")
    op.drop_table("data_quality_alert")
    op.drop_table("kpi_hold")
    with op.batch_alter_table("validation_result") as batch_op:
        batch_op.drop_column("judged")
    with op.batch_alter_table("batch_ledger") as batch_op:
        batch_op.drop_column("data_docs_page")
        batch_op.drop_column("batch_kind")
