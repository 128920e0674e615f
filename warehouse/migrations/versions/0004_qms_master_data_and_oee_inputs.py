"""QMS master data (sites, lines, process steps, defect codes, product routes) and OEE inputs on runs.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dim_defect_code",
        sa.Column("defect_code", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("defect_code", name=op.f("pk_dim_defect_code")),
    )
    with op.batch_alter_table("dim_defect_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_defect_code_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "dim_line",
        sa.Column("line_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_name", sa.String(), nullable=False),
        sa.Column("owner_email", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_dim_line")),
    )
    with op.batch_alter_table("dim_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_line_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "dim_process_step",
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("step_name", sa.String(), nullable=False),
        sa.Column("step_sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_dim_process_step")),
    )
    with op.batch_alter_table("dim_process_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_process_step_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "dim_site",
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("site_name", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_dim_site")),
    )
    with op.batch_alter_table("dim_site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_site_batch_id"), ["batch_id"], unique=False)

    with op.batch_alter_table("dim_product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(), nullable=True))

    with op.batch_alter_table("fact_production_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("planned_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("downtime_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ideal_cycle_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fact_production_run", schema=None) as batch_op:
        batch_op.drop_column("ideal_cycle_seconds")
        batch_op.drop_column("downtime_minutes")
        batch_op.drop_column("planned_minutes")

    with op.batch_alter_table("dim_product", schema=None) as batch_op:
        batch_op.drop_column("route")

    with op.batch_alter_table("dim_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_site_batch_id"))

    op.drop_table("dim_site")
    with op.batch_alter_table("dim_process_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_process_step_batch_id"))

    op.drop_table("dim_process_step")
    with op.batch_alter_table("dim_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_line_batch_id"))

    op.drop_table("dim_line")
    with op.batch_alter_table("dim_defect_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_defect_code_batch_id"))

    op.drop_table("dim_defect_code")
