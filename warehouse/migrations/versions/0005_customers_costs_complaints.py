"""Customers, shipments, complaints and the quality cost ledger.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dim_customer",
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("customer_name", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("acquired_on", sa.Date(), nullable=False),
        sa.Column("churned_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_dim_customer")),
    )
    with op.batch_alter_table("dim_customer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dim_customer_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "fact_complaint",
        sa.Column("complaint_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_id", sa.String(), nullable=True),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("defect_code", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name=op.f("pk_fact_complaint")),
    )
    with op.batch_alter_table("fact_complaint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_complaint_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_complaint_received_on"), ["received_on"], unique=False)

    op.create_table(
        "fact_cost_ledger",
        sa.Column("entry_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("line_id", sa.String(), nullable=True),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("cost_element", sa.String(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_fact_cost_ledger")),
    )
    with op.batch_alter_table("fact_cost_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_cost_ledger_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_cost_ledger_booked_on"), ["booked_on"], unique=False)

    op.create_table(
        "fact_shipment",
        sa.Column("shipment_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=120), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name=op.f("pk_fact_shipment")),
    )
    with op.batch_alter_table("fact_shipment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fact_shipment_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fact_shipment_shipped_on"), ["shipped_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fact_shipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_shipment_shipped_on"))
        batch_op.drop_index(batch_op.f("ix_fact_shipment_batch_id"))

    op.drop_table("fact_shipment")
    with op.batch_alter_table("fact_cost_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_cost_ledger_booked_on"))
        batch_op.drop_index(batch_op.f("ix_fact_cost_ledger_batch_id"))

    op.drop_table("fact_cost_ledger")
    with op.batch_alter_table("fact_complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_complaint_received_on"))
        batch_op.drop_index(batch_op.f("ix_fact_complaint_batch_id"))

    op.drop_table("fact_complaint")
    with op.batch_alter_table("dim_customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dim_customer_batch_id"))

    op.drop_table("dim_customer")
