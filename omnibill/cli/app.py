"""The `omnibill` command, assembled from one module per command group."""

from __future__ import annotations

import os

import typer

# Prefect reads these at import: no telemetry from a billing system.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from omnibill.memory import limit_malloc_arenas  # noqa: E402
from omnibill.cli import archive, db, explain, ops, payments, portal, preview, release, run, status, unread  # noqa: E402

app = typer.Typer(help="omnibill: open omnichannel billing communication on Prefect.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
for group in (run, release, unread, status, explain, preview, portal, db, ops, payments, archive):
    app.registered_commands += group.commands.registered_commands
    app.registered_groups += group.commands.registered_groups


def main() -> None:
    """Entry point."""
    limit_malloc_arenas()
    app()


if __name__ == "__main__":
    main()
