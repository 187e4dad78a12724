"""customers: unique lookup index on (run_id, customer_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:45:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ux_customers_run_customer", "customers", ["run_id", "customer_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_customers_run_customer", table_name="customers")
