"""Reconcile tasks: the run's accounts (or a dry run's forecast), published as Prefect artifacts and events."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.ops import artifacts, events
from omnibill.reconcile.stage import forecast_of, failures_of, render_table, run_reconcile


@task(name="reconcile", cache_policy=NO_CACHE)
def reconcile(tenant: str, period: str, invoice_rows: int) -> dict:
    """Count every document by outcome and every message by channel and state; publish artifacts and an event."""
    run = wiring.run_of(tenant, period)
    rec = run_reconcile(wiring.ledger(), run, invoice_rows)
    summary = rec.as_dict()
    artifacts.publish_channels(tenant, period, summary)
    artifacts.publish_reconciliation(tenant, period, summary, render_table(rec))
    artifacts.publish_failures(tenant, period, failures_of(wiring.ledger(), run))
    events.run_reconciled(tenant, period, summary)
    get_run_logger().info("reconciled %s %s (%s): %s", tenant, period, summary["status"],
                          ", ".join(f"{k} {v}" for k, v in summary["outcome"].items()))
    return summary


@task(name="forecast", cache_policy=NO_CACHE)
def forecast(tenant: str, period: str) -> dict:
    """Dry run: the channel mix and cost of what a real run would send; printed and published."""
    rows = forecast_of(wiring.ledger(), wiring.run_of(tenant, period))
    text = artifacts.forecast_text(tenant, period, rows)
    artifacts.publish_forecast(tenant, period, rows, text)
    get_run_logger().info("dry run forecast:\n%s", text)
    return {"tenant": tenant, "period": period, "dry_run": True, "channels": rows, "text": text}
