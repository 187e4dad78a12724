"""payments: what banks (camt.054) and providers reported as paid, once per (source, event id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(160), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("document_id", sa.String(32), sa.ForeignKey("documents.id", name="fk_payments_document_id_documents"),
                  nullable=True),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_payments_source_event", "payments", ["source", "event_id"], unique=True)
    op.create_index("ix_payments_tenant_reference", "payments", ["tenant", "reference"])
    op.create_index("ix_payments_document_id", "payments", ["document_id"])


def downgrade() -> None:
    op.drop_table("payments")
