"""People: the HR roster, the course catalog and which courses each role requires.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dim_course",
        sa.Column("course_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_dim_course")),
    )
    with op.batch_alter_table("dim_course", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_course_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "dim_employee",
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("hired_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_dim_employee")),
    )
    with op.batch_alter_table("dim_employee", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_employee_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "dim_role_requirement",
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("course_id", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role", "course_id", name=op.f("pk_dim_role_requirement")),
    )
    with op.batch_alter_table("dim_role_requirement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_role_requirement_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dim_role_requirement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_role_requirement_batch_id"))

    op.drop_table("dim_role_requirement")
    with op.batch_alter_table("dim_employee", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_employee_batch_id"))

    op.drop_table("dim_employee")
    with op.batch_alter_table("dim_course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_course_batch_id"))

    op.drop_table("dim_course")
