"""`omnibill portal`: the recipients' web app on the same ledger and document store as the runs."""

from __future__ import annotations

from typing import Annotated

import typer

commands = typer.Typer()


@commands.command()
def portal(
    host: Annotated[str, typer.Option(help="Address to bind (default from OMNIBILL_PORTAL__HOST)")] = "",
    port: Annotated[int, typer.Option(help="Port (default from OMNIBILL_PORTAL__PORT, 8030)")] = 0,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (default OMNIBILL_PORTAL__WORKERS)")] = 0,
) -> None:
    """Serve the recipients' portal: documents behind their links, choices, one-click unsubscribe."""
    import uvicorn

    from config.settings import get_settings
    from omnibill import wiring
    from omnibill.ledger.db import SchemaOutdated

    settings = get_settings()
    try:
        wiring.ledger(settings)  # the schema is checked before the first recipient arrives
    except SchemaOutdated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    host, port = host or settings.portal.host, port or settings.portal.port
    typer.echo(f"portal on http://{host}:{port}/ (ledger {settings.resolved_database_url()}); Ctrl-C stops it")
    # No access log: the paths carry link tokens. The portal logs opens itself, tokens cut short.
    uvicorn.run("omnibill.portal.app:create_app", factory=True, host=host, port=port,
                workers=workers or settings.portal.workers, access_log=False, log_level="info",
                proxy_headers=settings.portal.trust_forwarded_for)
