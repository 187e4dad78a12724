"""Release of scheduled messages: what waited for the end of quiet hours goes out once its time has come.
The same 15-minute flow applies reports that came in late (a bounce after the run ended) and sends the
fallbacks they plan."""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger

from flows.rounds import holder_name, render_and_dispatch, settle_reports
from omnibill import wiring
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import slot, tenant_limit_name
from omnibill.reconcile.stage import invoice_rows_of
from omnibill.runs import RunActive
from tasks.decide import release_due
from tasks.reconcile import reconcile


@flow(name="release-scheduled", flow_run_name="release scheduled {tenant}", log_prints=False)
def release_scheduled(tenant: str = "demo") -> dict:
    """Send a tenant's scheduled messages whose time has come (quiet hours over), run by run.

    Args:
        tenant: Tenant name, as in the monthly run.
    """
    log = get_run_logger()
    released: dict[str, dict] = {}
    for period in wiring.periods_with_due_messages(tenant):
        try:
            with wiring.hold_run(tenant, period, holder_name(), create=False) as hold, \
                    slot(tenant_limit_name(tenant)):
                due = release_due(tenant, period)
                if not due and not wiring.has_work(tenant, period):
                    continue  # still night for everyone waiting: nothing to do until the next release
                render_and_dispatch(tenant, period, Progress(tenant, period, "release-progress"), hold=hold)
                summary = reconcile(tenant, period, invoice_rows_of(wiring.ledger(), wiring.run_of(tenant, period)))
        except RunActive as busy:
            log.info("skipped %s %s: %s (the next release picks its messages up)", tenant, period, busy)
            continue
        released[period] = {"due": due, "status": summary["status"]}
        log.info("released %d scheduled messages of %s %s; the run is %s", due, tenant, period, summary["status"])
    settled = _settle(tenant, set(released))
    return {"tenant": tenant, "released": released, "fallbacks_after_reports": settled}


def _settle(tenant: str, done: set[str]) -> dict[str, int]:
    """Recent runs whose providers may still report back (late bounces, rejections): their fallbacks go out."""
    log = get_run_logger()
    settled: dict[str, int] = {}
    for period in wiring.periods_awaiting_reports(tenant):
        if period in done:
            continue  # its release just collected the reports
        try:
            with wiring.hold_run(tenant, period, holder_name(), create=False) as hold, \
                    slot(tenant_limit_name(tenant)):
                planned = settle_reports(tenant, period, Progress(tenant, period, "release-progress"), hold=hold)
                if planned:
                    reconcile(tenant, period, invoice_rows_of(wiring.ledger(), wiring.run_of(tenant, period)))
        except RunActive as busy:
            log.info("skipped reports of %s %s: %s", tenant, period, busy)
            continue
        if planned:
            settled[period] = planned
            log.info("%s %s: %d fallbacks after late reports (bounces, rejections)", tenant, period, planned)
    return settled
