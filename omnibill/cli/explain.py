"""`omnibill explain`: why each of a customer's documents went where it went."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from omnibill.cli.common import Period, Tenant, run_or_exit, this_month

commands = typer.Typer()


@commands.command()
def explain(tenant: Tenant = "demo", period: Period = "",
            customer: Annotated[str, typer.Option("--customer", "-c", help="ERP customer id")] = "",
            as_json: Annotated[bool, typer.Option("--json", help="The decisions and fired rules as JSON")] = False,
            ) -> None:
    """Why each of a customer's documents went to its channel, in plain words (personal data masked)."""
    from omnibill import wiring
    from omnibill.decide.explain import explain_customer, render_text

    if not customer:
        raise typer.BadParameter("give the customer with --customer ID")
    run_ = run_or_exit(tenant, period or this_month())
    with wiring.ledger().read() as session:
        explained = explain_customer(session, run_, customer)
    if as_json:
        json.dump(explained, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    typer.echo(render_text(explained))
    if not explained["documents"]:
        raise typer.Exit(2)
