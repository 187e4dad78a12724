"""messages.opened_at; preferences chosen in the portal

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 05:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "preferences",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_hash", sa.String(64), nullable=True),
    )
    op.create_index("ix_preferences_tenant_customer", "preferences", ["tenant", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_preferences_tenant_customer", table_name="preferences")
    op.drop_table("preferences")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("opened_at")
