"""provider_events: delivery reports and reads from providers (pushed or polled), once per provider event id;
messages by provider_ref

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(160), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
    )
    op.create_index("ux_provider_events_provider_event", "provider_events", ["provider", "event_id"], unique=True)
    op.create_index("ix_provider_events_pending", "provider_events", ["applied_at"])
    op.create_index("ix_provider_events_message_id", "provider_events", ["message_id"])
    # Providers that never see our message id (Kivra) call back with their own reference.
    op.create_index("ix_messages_provider_ref", "messages", ["provider_ref"])


def downgrade() -> None:
    op.drop_index("ix_messages_provider_ref", table_name="messages")
    op.drop_table("provider_events")
