"""Alembic environment: runs on the connection handed over by omnibill.ledger.db.migrate."""

from alembic import context
from sqlalchemy import create_engine

from omnibill.ledger.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations on the given connection, or on sqlalchemy.url when run from the alembic CLI."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


run_migrations()
