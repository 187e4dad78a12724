"""What every command group shares: the tenant and period options, the run lookup, the local providers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer

Tenant = Annotated[str, typer.Option("--tenant", "-t", help="Tenant name; its rules are config/tenants/<tenant>.toml")]
Period = Annotated[str, typer.Option("--period", "-p", help="Billing period as YYYY-MM")]


def this_month() -> str:
    """The current period, YYYY-MM."""
    return date.today().strftime("%Y-%m")


def run_or_exit(tenant: str, period: str):
    """The ledger's run of a tenant's period, or a clear message and exit code 1."""
    from omnibill import wiring

    try:
        return wiring.run_of(tenant, period)
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@contextmanager
def providers() -> Iterator[object | None]:
    """The sandbox providers for a command that runs flows, when settings point at them and none listen."""
    from config.settings import get_settings
    from omnibill.sandbox.autostart import sandbox_for_run

    with sandbox_for_run(get_settings()) as box:
        yield box


def refuse_when_busy(tenant: str, period: str) -> None:
    """Before starting Prefect at all: a period another live run holds is refused at once (exit 4).

    The flow checks again when it takes the hold, for runs started together and for deployments.
    """
    from omnibill import wiring
    from omnibill.ledger.db import SchemaOutdated

    try:
        why = wiring.busy(tenant, period)
    except SchemaOutdated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if why:
        typer.echo(f"not started: {why}", err=True)
        raise typer.Exit(4)


def flow_or_exit(what: str, call):
    """Run a flow with the local providers; a plain message and exit code for each way it can stop:
    3 incomplete (transient failures left), 4 the period is busy, 2 a bad rule file, 1 no such run."""
    from config.tenant import TenantConfigError
    from flows.rounds import RunIncomplete
    from omnibill.runs import RunActive

    try:
        with providers():
            return call()
    except RunIncomplete as exc:
        typer.echo(f"{what} incomplete: {exc}", err=True)
        raise typer.Exit(3) from exc
    except RunActive as exc:
        exit_when_busy(exc)
    except TenantConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


def exit_when_busy(exc: Exception) -> None:
    """A run of the same tenant and period is active: say so plainly, exit 4."""
    typer.echo(f"not started: {exc}", err=True)
    raise typer.Exit(4) from exc
