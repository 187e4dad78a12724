"""documents: index on (customer_id, run_id) for the portal's history of a recipient

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:15:00
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_documents_customer_run", "documents", ["customer_id", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_customer_run", table_name="documents")
