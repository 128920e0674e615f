"""Indexes an incremental KPI build needs: the defects of a run (it totals the defects of the rebuilt week's and
month's runs, which without it read every defect: 0.6 s of a one-day rebuild against the benchmark year's 5 M),
and the training assignments' ``updated_at`` (the LMS data's as-of day is its newest value).

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fact_defect_run_id", "fact_defect", ["run_id"])
    op.create_index("ix_fact_training_assignment_updated_at", "fact_training_assignment", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_fact_training_assignment_updated_at", table_name="fact_training_assignment")
    op.drop_index("ix_fact_defect_run_id", table_name="fact_defect")
