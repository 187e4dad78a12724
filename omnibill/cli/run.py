"""`omnibill` commands that run flows: demo data, the monthly run, reruns, the release of scheduled messages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from omnibill.cli.common import (Period, Tenant, exit_when_busy, flow_or_exit, providers, refuse_when_busy,
                                 this_month)

commands = typer.Typer()


@commands.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="Folder to write the extract tables to")],
    customers: Annotated[int, typer.Option(help="Number of customers to generate")] = 10_000,
    period: Annotated[str, typer.Option(help="Billing period YYYY-MM (default: this month)")] = "",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same extract")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="Table format: csv, parquet or jsonl")] = "csv",
) -> None:
    """Write a synthetic Nordic ERP extract (erp-extract.md) with about 1% deliberately bad rows."""
    from omnibill.demo_data import write_demo_extract

    counts = write_demo_extract(out, customers=customers, period=period or this_month(), seed=seed, fmt=fmt)
    typer.echo(f"wrote extract to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@commands.command()
def run(
    tenant: Tenant = "demo",
    period: Period = "",
    source: Annotated[str, typer.Option(help="Extract folder, s3://bucket/prefix/, or a database URL "
                                           "(postgresql+psycopg://host/db?schema=billing)")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Extract, decide and render, send nothing: "
                                                             "print the channel mix and cost forecast")] = False,
) -> None:
    """Run the monthly billing flow for a tenant and period (starts the sandbox providers if needed)."""
    from config.settings import get_settings

    period = period or this_month()
    _check_run_arguments(tenant, period, source)
    from flows.monthly_billing import RunActive, RunIncomplete, monthly_billing_run
    from omnibill.wiring import runnable

    refuse_when_busy(tenant, period)
    try:
        with providers():  # the mailbox's usermatch answers the decide stage too
            if dry_run:
                typer.echo(runnable(monthly_billing_run)(tenant=tenant, period=period, source=source,
                                                         dry_run=True)["text"])
                return
            try:
                summary = runnable(monthly_billing_run)(tenant=tenant, period=period, source=source)
                code = 0
            except RunIncomplete as exc:
                typer.echo(f"run incomplete: {exc}", err=True)
                summary, code = None, 3
    except RunActive as exc:
        exit_when_busy(exc)
    _print_after_run(tenant, period, get_settings(), summary)
    raise typer.Exit(code)


def _check_run_arguments(tenant: str, period: str, source: str) -> None:
    """Plain errors for plain mistakes, before a Prefect server is started for nothing."""
    import re

    from config.settings import get_settings
    from config.tenant import TenantConfigError, load_tenant
    from omnibill.extract.database import check_database_source, is_database_url
    from omnibill.extract.results import ExtractError
    from omnibill.model import PERIOD_PATTERN

    if not re.fullmatch(PERIOD_PATTERN, period):
        raise typer.BadParameter(f"period must be YYYY-MM, got {period!r}", param_hint="--period")
    if not source:
        raise typer.BadParameter("give the extract with --source DIR, s3://… or a database URL "
                                 "(make one with `omnibill demo-data`)",
                                 param_hint="--source")
    if is_database_url(source):  # reach it now: a wrong host or a missing view is said here, not mid-flow
        try:
            check_database_source(source)
        except ExtractError as exc:
            raise typer.BadParameter(str(exc), param_hint="--source") from exc
    elif "://" not in source and not Path(source).is_dir():
        raise typer.BadParameter(f"no extract folder at {source}", param_hint="--source")
    try:
        load_tenant(tenant, get_settings().tenants_dir)
    except TenantConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tenant") from exc


def _print_after_run(tenant: str, period: str, settings, summary) -> None:
    from omnibill import wiring
    from omnibill.reconcile.stage import reconcile_only, render_table

    run_ = wiring.run_of(tenant, period, settings)
    rows = (summary or {}).get("invoice_rows") or (run_.summary or {}).get("invoice_rows", 0)
    rec = reconcile_only(wiring.ledger(settings), run_, rows)
    typer.echo("\n" + render_table(rec))
    scheduled = sum(c.counts["scheduled"] for c in rec.channels)
    if scheduled:
        typer.echo(f"\n{scheduled} messages wait for the end of quiet hours (the first is due at "
                   f"{wiring.next_due(tenant, settings)}): `omnibill release-scheduled --tenant {tenant}` sends them "
                   "when their time has come (`omnibill serve` does it every 15 minutes).")
    typer.echo(f"""
Where to look:
  ledger (SQL)          {settings.resolved_database_url()}
  rendered documents    {settings.resolved_store_url()}/{tenant}/{period}/
  e-mails received      {settings.sandbox_dir()}/email/  (sandbox SMTP server, .eml files)
  print batches         {settings.resolved_print_url()}/{tenant}/{period}/  (PDF + CSV manifest)
  e-invoices (UBL)      {settings.resolved_einvoice_url()}/{tenant}/{period}/  (access point answers: responses/, read ones in responses/read/)
  bounces (RFC 3464)    {settings.smtp.bounce_maildir or settings.data_dir / 'bounces'}/  (Maildir, read by the run)
  archive (PDF/A-3b)    {settings.resolved_archive_url()}/  (omnibill archive get --tenant {tenant} --invoice ID)
  proof of the run      {wiring.proof_url(run_, settings)}  (served by `omnibill portal`)
  per-document status   omnibill status --tenant {tenant} --period {period} [--json]""")


@commands.command()
def rerun(
    tenant: Tenant,
    period: Period,
    channel: Annotated[Optional[str], typer.Option(help="Only this channel (email, sms, mailbox, einvoice, print)")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Only this batch number")] = None,
) -> None:
    """Re-dispatch messages that failed transiently or are still pending (never a sent one), then reconcile."""
    from flows.rerun_failed import rerun_failed
    from omnibill.wiring import runnable

    refuse_when_busy(tenant, period)
    summary = flow_or_exit("rerun", lambda: runnable(rerun_failed)(tenant=tenant, period=period, channel=channel,
                                                                   batch=batch))
    o = summary["outcome"]
    typer.echo(f"rerun {tenant} {period} ({summary['status']}): " + ", ".join(f"{k} {v}" for k, v in o.items()))


@commands.command("release-scheduled")
def release_scheduled(tenant: Tenant = "demo") -> None:
    """Send the tenant's scheduled messages whose time has come (quiet hours over); the deployment does it every 15 min."""
    from flows.release_scheduled import release_scheduled as release
    from omnibill.wiring import runnable

    with providers():
        result = runnable(release)(tenant=tenant)
    if not result["released"]:
        from omnibill import wiring

        due = wiring.next_due(tenant)
        typer.echo(f"{tenant}: no scheduled messages are due now"
                   + (f"; the first waiting one is due at {due}" if due else "; none is waiting"))
    for period, r in result["released"].items():
        typer.echo(f"{tenant} {period}: {r['due']} scheduled messages released; the run is {r['status']}")
