"""billing_runs: proof and release (state, by, comment, when; the paused flow run and its API)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = (("release_state", sa.String(16)), ("release_by", sa.String(128)), ("release_comment", sa.Text()),
           ("released_at", sa.DateTime(timezone=True)), ("release_flow_run", sa.String(64)),
           ("release_api_url", sa.String(256)))


def upgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
