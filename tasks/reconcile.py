"""Reconcile tasks: the run's accounts (or a dry run's forecast), published as Prefect artifacts and events."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.ledger.models import BillingRun
from omnibill.ops import artifacts, events
from omnibill.ops.queries import failures, forecast
from omnibill.reconcile import reconcile, render_table


@task(name="reconcile", cache_policy=NO_CACHE)
def reconcile_run(tenant: str, period: str, invoice_rows: int) -> dict:
    """Count every document by outcome and every message by channel and state; publish artifacts and an event."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        rec = reconcile(session, run, invoice_rows)
        stored = session.get(BillingRun, run.id)
        stored.summary = rec.as_dict()
        stored.status = "reconciled" if rec.balanced else "unbalanced"
        failed = failures(session, run.id)
    summary = rec.as_dict()
    artifacts.publish_channels(tenant, period, summary)
    artifacts.publish_reconciliation(tenant, period, summary, render_table(rec))
    artifacts.publish_failures(tenant, period, failed)
    events.run_reconciled(tenant, period, summary)
    get_run_logger().info("reconciled %s %s: %s", tenant, period,
                          ", ".join(f"{k} {v}" for k, v in summary["outcome"].items()))
    return summary


@task(name="forecast", cache_policy=NO_CACHE)
def forecast_run(tenant: str, period: str) -> dict:
    """Dry run: the channel mix and cost of what a real run would send; printed and published."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        rows = forecast(session, run.id)
    text = artifacts.forecast_text(tenant, period, rows)
    artifacts.publish_forecast(tenant, period, rows, text)
    get_run_logger().info("dry run forecast:\n%s", text)
    return {"tenant": tenant, "period": period, "dry_run": True, "channels": rows, "text": text}
