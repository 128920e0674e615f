"""Alert triage: an assignee, an assignable-cause and a corrective-action code on each alert, notes, and days taken
out of a rule's baselines by hand.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    plain = sa.String(length) if length else sa.Text()
    return plain.with_variant(sa.String(length, collation="C") if length else sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    # The BI views read the alert table; `warehouse.migrate.upgrade` re-creates them after the revisions.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("drop view if exists bi.quality_alerts")
    else:
        op.execute("drop view if exists bi_quality_alerts")
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("assignee", _text(120), nullable=True))
        batch.add_column(sa.Column("cause_code", _text(60), nullable=True))
        batch.add_column(sa.Column("action_code", _text(60), nullable=True))
        batch.add_column(sa.Column("triaged_at", sa.DateTime(), nullable=True))
    op.create_table(
        "alert_note",
        sa.Column("alert_id", _text(64), nullable=False),
        sa.Column("noted_at", sa.DateTime(), nullable=False),
        sa.Column("author", _text(120), nullable=False),
        sa.Column("note", _text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "noted_at", name=op.f("pk_alert_note")),
    )
    op.create_table(
        "baseline_exclusion",
        sa.Column("rule_name", _text(80), nullable=False),
        sa.Column("site_id", _text(40), nullable=False),
        sa.Column("line_id", _text(40), nullable=False),
        sa.Column("step_id", _text(40), nullable=False),
        sa.Column("kpi_date", sa.Date(), nullable=False),
        sa.Column("alert_id", _text(64), nullable=False),
        sa.Column("reason", _text(), nullable=False),
        sa.Column("excluded_by", _text(120), nullable=False),
        sa.Column("excluded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "rule_name", "site_id", "line_id", "step_id", "kpi_date", name=op.f("pk_baseline_exclusion")
        ),
    )


def downgrade() -> None:
    for view in ("alert_response", "alert_response_by_owner", "quality_alerts"):
        op.execute(f"drop view if exists {'bi.' if op.get_bind().dialect.name == 'postgresql' else 'bi_'}{view}")
    op.drop_table("baseline_exclusion")
    op.drop_table("alert_note")
    with op.batch_alter_table("alert") as batch:
        for column in ("triaged_at", "action_code", "cause_code", "assignee"):
            batch.drop_column(column)
