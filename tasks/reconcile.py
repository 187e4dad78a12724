"""Reconcile task: the run's accounts, printed and published as Prefect artifacts."""

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from omnibill import wiring
from omnibill.ledger.models import BillingRun
from omnibill.reconcile import reconcile, render_table


@task(name="reconcile", cache_policy=NO_CACHE)
def reconcile_run(tenant: str, period: str, invoice_rows: int) -> dict:
    """Count every document by outcome and every message by channel and state; publish artifacts."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        rec = reconcile(session, run, invoice_rows)
        stored = session.get(BillingRun, run.id)
        stored.summary = rec.as_dict()
        stored.status = "reconciled" if rec.balanced else "unbalanced"
    key = f"{tenant}-{period}".lower()
    create_table_artifact(key=f"{key}-channels", table=rec.as_dict()["channels"],
                          description=f"Messages per channel and state, {tenant} {period}")
    create_markdown_artifact(key=f"{key}-reconciliation", markdown=f"```\n{render_table(rec)}\n```",
                             description=f"Reconciliation of {tenant} {period}: documents in = accounted for")
    return rec.as_dict()
