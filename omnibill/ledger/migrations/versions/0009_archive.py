"""archived_documents: each sent document's PDF/A-3b in the archive store (key, hash, retention, lock)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archived_documents",
        sa.Column("document_id", sa.String(32),
                  sa.ForeignKey("documents.id", name="fk_archived_documents_document_id_documents"), nullable=False),
        sa.Column("run_id", sa.String(32),
                  sa.ForeignKey("billing_runs.id", name="fk_archived_documents_run_id_billing_runs"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("invoice_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("einvoice", sa.Boolean(), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_lock", sa.Boolean(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("document_id", name="pk_archived_documents"),
    )
    op.create_index("ix_archived_documents_run_id", "archived_documents", ["run_id"])
    op.create_index("ix_archived_documents_tenant_invoice", "archived_documents", ["tenant", "invoice_id"])


def downgrade() -> None:
    op.drop_table("archived_documents")
