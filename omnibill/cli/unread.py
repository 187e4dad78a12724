"""`omnibill print-if-unread`: letters for the documents whose digital message nobody opened in time."""

from __future__ import annotations

from typing import Annotated

import typer

from omnibill.cli.common import Tenant, flow_or_exit, refuse_when_busy, run_or_exit

commands = typer.Typer()


@commands.command("print-if-unread")
def print_if_unread(
    tenant: Tenant = "demo",
    period: Annotated[str, typer.Option("--period", "-p", help="Billing period as YYYY-MM whose documents are "
                                                                "looked at (default: the month just ended)")] = "",
) -> None:
    """Print the documents whose digital message was not opened in time (the tenant's print_if_unread rule:
    categories and days), once each, and reconcile the run; the daily deployment does the same every morning."""
    import re

    from omnibill.model import PERIOD_PATTERN
    from omnibill.ops.periods import previous_month

    period = period or previous_month()
    if not re.fullmatch(PERIOD_PATTERN, period):
        raise typer.BadParameter(f"period must be YYYY-MM, got {period!r}", param_hint="--period")
    from flows.print_if_unread import print_if_unread as flow

    refuse_when_busy(tenant, period)
    run_or_exit(tenant, period)  # a plain error (exit 1) before Prefect is started for nothing
    from omnibill.wiring import runnable

    result = flow_or_exit("print-if-unread", lambda: runnable(flow)(tenant=tenant, period=period))
    if result.get("note"):
        typer.echo(f"{tenant} {period}: {result['note']}")
        return
    typer.echo(f"{tenant} {period}: {result['planned']} letters planned, {result['sent']} sent "
               f"({result['unread']} unread documents due; the run is {result['status']})")
    for s in result["skipped"]:
        typer.echo(f"  {s['document_id']} (customer {s['customer_id']}): {s['reason']}")
