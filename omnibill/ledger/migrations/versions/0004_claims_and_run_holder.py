"""messages: claimant and lease of a dispatch claim; billing_runs: the holder of a run

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 04:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("billing_runs") as batch:
        batch.add_column(sa.Column("holder", sa.String(128), nullable=True))
        batch.add_column(sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_state_not_before", "messages", ["state", "not_before"])


def downgrade() -> None:
    op.drop_index("ix_messages_state_not_before", table_name="messages")
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("held_until")
        batch.drop_column("held_since")
        batch.drop_column("holder")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
