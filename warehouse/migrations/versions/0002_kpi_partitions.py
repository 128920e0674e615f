"""Incremental KPI builds: the ledger records when a batch reached the KPIs; facts index their day partitions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kpis_built_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("dim_product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_product_batch_id"), ["batch_id"], unique=False)

    with op.batch_alter_table("fact_defect", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_defect_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_defect_run_id"), ["run_id"], unique=False)

    with op.batch_alter_table("fact_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_feedback_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_feedback_responded_at"), ["responded_at"], unique=False)

    with op.batch_alter_table("fact_production_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_production_run_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_production_run_production_date"), ["production_date"], unique=False)

    with op.batch_alter_table("fact_training_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_training_assignment_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_training_assignment_due_on"), ["due_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fact_training_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_training_assignment_due_on"))
        batch_op.drop_index(batch_op.f("ix_fact_training_assignment_batch_id"))

    with op.batch_alter_table("fact_production_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_production_run_production_date"))
        batch_op.drop_index(batch_op.f("ix_fact_production_run_batch_id"))

    with op.batch_alter_table("fact_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_feedback_responded_at"))
        batch_op.drop_index(batch_op.f("ix_fact_feedback_batch_id"))

    with op.batch_alter_table("fact_defect", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_defect_run_id"))
        batch_op.drop_index(batch_op.f("ix_fact_defect_batch_id"))

    with op.batch_alter_table("dim_product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_product_batch_id"))

    with op.batch_alter_table("batch_ledger", schema=None) as batch_op:
        batch_op.drop_column("kpis_built_at")
