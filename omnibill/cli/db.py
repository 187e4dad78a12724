"""`omnibill db`: the ledger's schema, migrated once by an operator instead of by every worker."""

from __future__ import annotations

import typer

commands = typer.Typer()
db_app = typer.Typer(help="The ledger's schema: apply migrations once, check the revision.", no_args_is_help=True)
commands.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the ledger's migrations (before starting workers; `make run` does it for the SQLite default)."""
    from config.settings import get_settings
    from omnibill.ledger.db import current_revision, head_revision, make_engine, migrate

    engine = make_engine(get_settings().resolved_database_url())
    try:
        before = current_revision(engine)
        migrate(engine)
        typer.echo(f"ledger {engine.url.render_as_string(hide_password=True)}: "
                   f"{before or 'empty'} -> {head_revision()}")
    finally:
        engine.dispose()


@db_app.command("current")
def current() -> None:
    """Print the ledger's schema revision and the one this code needs; exit 1 when they differ."""
    from config.settings import get_settings
    from omnibill.ledger.db import current_revision, head_revision, make_engine

    engine = make_engine(get_settings().resolved_database_url())
    try:
        have, need = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    typer.echo(f"ledger at {have or 'none (empty)'}, code needs {need}")
    raise typer.Exit(0 if have == need else 1)
