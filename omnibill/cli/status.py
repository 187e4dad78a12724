"""`omnibill status`: a run's counts per channel and state, or every document and channel tried as JSON."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Annotated

import typer

from omnibill.cli.common import Period, Tenant, run_or_exit, this_month

commands = typer.Typer()


@commands.command()
def status(tenant: Tenant = "demo", period: Period = "",
           as_json: Annotated[bool, typer.Option("--json", help="One JSON object per document and channel tried")] = False,
           ) -> None:
    """Counts per channel and state for a run; with --json, every document and channel tried."""
    from omnibill import wiring
    from omnibill.model import MESSAGE_CATEGORIES
    from omnibill.reconcile.status import each_status_row, status_label

    run_ = run_or_exit(tenant, period or this_month())
    period = run_.period
    rules, signer = wiring.tenant_rules(tenant), wiring.link_signer(tenant)

    template = rules.sender.document_url  # the group's portal address (country companies share it)

    def link_of(doc) -> str | None:
        return template.format(token=signer.token(doc.id, doc.issue_date)) if template else None

    # Rows are written (or counted) as the ledger streams them: a run of a million documents is never held whole.
    counts: Counter = Counter()
    invoices = 0
    with wiring.ledger().read() as session:
        rows = each_status_row(session, run_, link_of)
        if as_json:  # one object per line, inside one array
            sys.stdout.write("[")
            for n, row in enumerate(rows):
                sys.stdout.write(("\n " if n == 0 else ",\n ") + json.dumps(row, ensure_ascii=False))
            sys.stdout.write("\n]\n")
            return
        for r in rows:
            counts[status_label(r)] += 1
            invoices += (r.get("kind", "primary") == "primary" and r["document_type"] not in MESSAGE_CATEGORIES
                         and r["fallback_of"] is None)
    typer.echo(f"{tenant} {period}: {invoices} invoice rows, run {run_.status}, "
               f"executed {run_.executions} time(s)")
    if run_.release_state:
        when = f" at {run_.released_at:%Y-%m-%d %H:%M} UTC" if run_.released_at else ""
        typer.echo(f"  release: {run_.release_state}" + (f" by {run_.release_by}" if run_.release_by else "") + when
                   + (f" ({run_.release_comment})" if run_.release_comment else ""))
    if run_.holder:
        from omnibill.runs import utc

        typer.echo(f"  in progress: held by {run_.holder} since {utc(run_.held_since):%Y-%m-%d %H:%M:%S} UTC"
                   f" (until {utc(run_.held_until):%H:%M:%S} UTC unless renewed)")
    for (channel, state), n in sorted(counts.items()):
        typer.echo(f"  {channel:<20} {state:<12} {n:>8}")
