"""The `omnibill` command: demo data, billing runs, status, and the local sandbox providers."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

# Prefect reads these at import: no telemetry from a billing system.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(help="omnibill: open omnichannel billing communication on Prefect.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

Tenant = Annotated[str, typer.Option("--tenant", "-t", help="Tenant name; its rules are config/tenants/<tenant>.toml")]
Period = Annotated[str, typer.Option("--period", "-p", help="Billing period as YYYY-MM")]


def _this_month() -> str:
    return date.today().strftime("%Y-%m")


def run_or_exit(tenant: str, period: str):
    """The ledger's run of a tenant's period, or a clear message and exit code 1."""
    from omnibill import wiring

    try:
        return wiring.run_of(tenant, period)
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="Folder to write the extract tables to")],
    customers: Annotated[int, typer.Option(help="Number of customers to generate")] = 10_000,
    period: Annotated[str, typer.Option(help="Billing period YYYY-MM (default: this month)")] = "",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same extract")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="Table format: csv, parquet or jsonl")] = "csv",
) -> None:
    """Write a synthetic Nordic ERP extract (erp-extract.md) with about 1% deliberately bad rows."""
    from omnibill.demo_data import write_demo_extract

    counts = write_demo_extract(out, customers=customers, period=period or _this_month(), seed=seed, fmt=fmt)
    typer.echo(f"wrote extract to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def run(
    tenant: Tenant = "demo",
    period: Period = "",
    source: Annotated[str, typer.Option(help="Extract folder or s3://bucket/prefix/")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Extract, decide and render, send nothing: "
                                                             "print the channel mix and cost forecast")] = False,
) -> None:
    """Run the monthly billing flow for a tenant and period (starts the sandbox providers if needed)."""
    from config.settings import get_settings

    period = period or _this_month()
    _check_run_arguments(tenant, period, source)
    from flows.monthly_billing import RunIncomplete, monthly_billing_run

    if dry_run:
        typer.echo(monthly_billing_run(tenant=tenant, period=period, source=source, dry_run=True)["text"])
        return
    try:
        summary = monthly_billing_run(tenant=tenant, period=period, source=source)
        code = 0
    except RunIncomplete as exc:
        typer.echo(f"run incomplete: {exc}", err=True)
        summary, code = None, 3
    _print_after_run(tenant, period, get_settings(), summary)
    raise typer.Exit(code)


def _check_run_arguments(tenant: str, period: str, source: str) -> None:
    """Plain errors for plain mistakes, before a Prefect server is started for nothing."""
    import re

    from config.settings import get_settings
    from config.tenant import TenantConfigError, load_tenant
    from omnibill.model import PERIOD_PATTERN

    if not re.fullmatch(PERIOD_PATTERN, period):
        raise typer.BadParameter(f"period must be YYYY-MM, got {period!r}", param_hint="--period")
    if not source:
        raise typer.BadParameter("give the extract with --source DIR (make one with `omnibill demo-data`)",
                                 param_hint="--source")
    if "://" not in source and not Path(source).is_dir():
        raise typer.BadParameter(f"no extract folder at {source}", param_hint="--source")
    try:
        load_tenant(tenant, get_settings().tenants_dir)
    except TenantConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tenant") from exc


def _print_after_run(tenant: str, period: str, settings, summary) -> None:
    from omnibill import wiring
    from omnibill.reconcile import reconcile, render_table

    run_ = wiring.run_of(tenant, period, settings)
    with wiring.ledger(settings).transaction() as session:
        rows = (summary or {}).get("invoice_rows") or (run_.summary or {}).get("invoice_rows", 0)
        typer.echo("\n" + render_table(reconcile(session, run_, rows)))
    typer.echo(f"""
Where to look:
  ledger (SQL)          {settings.resolved_database_url()}
  rendered documents    {settings.resolved_store_url()}/{tenant}/{period}/
  e-mails received      {settings.sandbox_dir()}/email/  (sandbox SMTP server, .eml files)
  print batches         {settings.resolved_print_url()}/{tenant}/{period}/  (PDF + CSV manifest)
  e-invoices (UBL)      {settings.resolved_einvoice_url()}/{tenant}/{period}/
  per-document status   omnibill status --tenant {tenant} --period {period} [--json]""")


@app.command()
def status(tenant: Tenant = "demo", period: Period = "",
           as_json: Annotated[bool, typer.Option("--json", help="One JSON object per document and channel tried")] = False,
           ) -> None:
    """Counts per channel and state for a run; with --json, every document and channel tried."""
    from omnibill import wiring
    from omnibill.model import MESSAGE_CATEGORIES
    from omnibill.status import status_counts, status_rows

    run_ = run_or_exit(tenant, period or _this_month())
    period = run_.period
    with wiring.ledger().transaction() as session:
        rows = status_rows(session, run_)
    if as_json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    invoices = sum(1 for r in rows if r.get("kind", "primary") == "primary" and r["document_type"] not in
                   MESSAGE_CATEGORIES and (r["fallback_of"] is None))
    typer.echo(f"{tenant} {period}: {invoices} invoice rows, run {run_.status}, "
               f"executed {run_.executions} time(s)")
    for (channel, state), n in sorted(status_counts(rows).items()):
        typer.echo(f"  {channel:<20} {state:<12} {n:>8}")


@app.command()
def sandbox(
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 0,
    http_port: Annotated[int, typer.Option(help="HTTP gateway port (SMS + digital mailbox)")] = 0,
) -> None:
    """Run the local sandbox providers (SMTP server, SMS and mailbox gateway) in the foreground."""
    from config.settings import get_settings
    from omnibill.sandbox import Sandbox

    settings = get_settings()
    box = Sandbox.from_settings(settings, smtp_port=smtp_port or None, http_port=http_port or None).start()
    typer.echo(f"sandbox: SMTP on {settings.sandbox.host}:{box.smtp_port}, HTTP on {settings.sandbox.host}:"
               f"{box.http_port}, keeping what it receives in {settings.sandbox_dir()} (Ctrl-C to stop)")
    box.run_forever()


# Commands of other areas register themselves on `app` when imported.
from omnibill import cli_explain, cli_ops, cli_preview  # noqa: E402,F401


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
