"""Rerun of a billing run's failed batches: only messages failed transiently or still pending, never a sent one."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.runtime import flow_run
from pydantic import Field

from config.channels import DISPATCH_CHANNELS
from flows.rounds import RunIncomplete, holder_name, left_to_do, render_and_dispatch
from omnibill import wiring
from omnibill.model import PERIOD_PATTERN
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import slot, tenant_limit_name
from omnibill.reconcile.stage import invoice_rows_of
from tasks.reconcile import reconcile


def _run_name() -> str:
    """`rerun demo 2026-11 sms batch 3` (the parts given)."""
    p = flow_run.parameters
    scope = " ".join(x for x in (p.get("channel") or "", f"batch {p['batch']}" if p.get("batch") is not None
                                 else "") if x)
    return f"rerun {p['tenant']} {p['period']}" + (f" {scope}" if scope else "")


@flow(name="rerun-failed", flow_run_name=_run_name, log_prints=False)
def rerun_failed(
    tenant: str,
    period: Annotated[str, Field(pattern=f"^{PERIOD_PATTERN}$")],
    channel: str | None = None,
    batch: Annotated[int | None, Field(ge=0)] = None,
) -> dict:
    """Re-dispatch a run's messages that failed transiently or are still pending, then reconcile.

    Args:
        tenant: Tenant name, as in the monthly run.
        period: Billing period YYYY-MM.
        channel: Only this channel (email, sms, mailbox, einvoice, print); empty means all.
        batch: Only this batch number; empty means all.
    """
    if channel and channel not in DISPATCH_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(DISPATCH_CHANNELS)}")
    progress = Progress(tenant, period, "rerun-progress")
    progress.at(30)
    with wiring.hold_run(tenant, period, holder_name(), create=False) as hold, slot(tenant_limit_name(tenant)):
        # The ledger decides: sent and permanently failed messages are never picked again.
        failed = render_and_dispatch(tenant, period, progress, channel=channel, batch=batch, hold=hold)
        summary = reconcile(tenant, period, invoice_rows_of(wiring.ledger(), wiring.run_of(tenant, period)))
    progress.at(100)
    if failed:
        raise RunIncomplete("still failing after retries: " + ", ".join(f"{c} batch {b}" for c, b in failed))
    if channel is None and batch is None and (left := left_to_do(summary)):
        # e.g. messages still claimed by a dispatcher that died: they go again once its lease has lapsed
        raise RunIncomplete(f"{left} documents or messages are still not delivered (in flight with another "
                            f"dispatcher, or pending): rerun after OMNIBILL_DISPATCH_LEASE_S")
    return summary
