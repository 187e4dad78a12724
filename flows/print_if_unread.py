"""Print if unread: a letter for each document whose digital message nobody opened in time, sent through
the normal render and dispatch stages (print only), then the run reconciled again."""

from __future__ import annotations

import re
from typing import Annotated

from prefect import flow
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from pydantic import Field

from flows.rounds import RunIncomplete, collect_receipts, holder_name, render_and_dispatch
from omnibill import wiring
from omnibill.decide.unread import letters_of
from omnibill.model import PERIOD_PATTERN
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import slot, tenant_limit_name
from omnibill.ops.periods import previous_month
from omnibill.reconcile.stage import invoice_rows_of
from omnibill.runs import RunActive
from tasks.reconcile import reconcile
from tasks.unread import plan_unread_letters

__all__ = ["RunActive", "RunIncomplete", "print_if_unread"]

PERIOD = re.compile(f"^{PERIOD_PATTERN}$")
PERIOD_OR_EMPTY = f"^({PERIOD_PATTERN})?$"


def _run_name() -> str:
    """`print if unread demo 2026-11`; an empty period names the month just ended."""
    params = flow_run.parameters
    return f"print if unread {params['tenant']} {params.get('period') or previous_month()}"


@flow(name="print-if-unread", flow_run_name=_run_name, log_prints=False)
def print_if_unread(
    tenant: str = "demo",
    period: Annotated[str, Field(pattern=PERIOD_OR_EMPTY)] = "",
) -> dict:
    """Print and post the documents whose digital message was not opened in time (the tenant's
    `[print_if_unread]` rule: categories and days), once per document; then reconcile the run.

    Args:
        tenant: Tenant name; its rules are config/tenants/<tenant>.toml.
        period: Billing period YYYY-MM of the run whose documents are looked at; empty means the month
            that just ended (the daily deployment: that run's reminders come due during this month).
    """
    log = get_run_logger()
    scheduled = not period
    period = period or previous_month()
    if not PERIOD.match(period):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    nothing = {"tenant": tenant, "period": period, "planned": 0, "sent": 0, "unread": 0, "skipped": [],
               "letters": {}, "status": None}
    if wiring.tenant_rules(tenant).print_if_unread is None:  # also: a bad rule file fails here, before any work
        log.info("tenant %s has no [print_if_unread] rule: nothing to print", tenant)
        return nothing | {"note": "no [print_if_unread] rule"}
    try:
        wiring.run_of(tenant, period)
    except LookupError as missing:
        if not scheduled:
            raise
        # The daily deployment before the month's first run (or for a new tenant): nothing to look at yet.
        log.info("%s; nothing to print", missing)
        return nothing | {"note": str(missing)}
    try:
        with wiring.hold_run(tenant, period, holder_name(), create=False) as hold, slot(tenant_limit_name(tenant)):
            return _print(tenant, period, hold)
    except RunActive as busy:
        if not scheduled:
            raise
        log.info("skipped %s %s: %s (tomorrow's run picks its letters up)", tenant, period, busy)
        return nothing | {"note": str(busy)}


def _print(tenant: str, period: str, hold) -> dict:
    """Plan the letters, render and send them (print only), reconcile; the counts of this call."""
    progress = Progress(tenant, period, "print-if-unread-progress")
    run = wiring.run_of(tenant, period)
    before = letters_of(wiring.ledger(), run)
    collect_receipts(tenant, period)  # the mailboxes' read status first: a document read there is not printed
    planned = plan_unread_letters(tenant, period)
    progress.at(30)
    # Renders what is planned (the new letters; letters an interrupted call planned are picked up too)
    # and dispatches print only: other channels' messages are left to their own flows.
    failed = render_and_dispatch(tenant, period, progress, channel="print", hold=hold)
    summary = reconcile(tenant, period, invoice_rows_of(wiring.ledger(), run))
    after = letters_of(wiring.ledger(), run)
    progress.at(100)
    sent = sum(after.get(s, 0) - before.get(s, 0) for s in ("sent", "delivered"))
    result = {"tenant": tenant, "period": period, "planned": planned["planned"], "sent": sent,
              "unread": planned["candidates"], "skipped": planned["skipped"], "letters": after,
              "status": summary["status"]}
    get_run_logger().info("%s %s: %d letters planned, %d sent; the run is %s", tenant, period, result["planned"],
                          sent, summary["status"])
    if failed:
        raise RunIncomplete("letters still failing after retries: " + ", ".join(f"{c} batch {b}" for c, b in failed)
                            + f" (omnibill rerun --tenant {tenant} --period {period} --channel print)")
    return result
