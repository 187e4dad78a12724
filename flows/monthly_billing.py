"""The monthly billing run: extract → decide → render → dispatch → receipts → reconcile."""

from __future__ import annotations

import re

from prefect import flow
from prefect.futures import wait
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from omnibill import wiring
from omnibill.ledger.repository import channel_batches
from omnibill.sandbox_control import sandbox_for_run
from tasks.decide import decide, fallbacks
from tasks.dispatch import dispatch, receipts
from tasks.extract import extract_to_ledger
from tasks.reconcile import reconcile_run
from tasks.render import render

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_ROUNDS = 6  # a fallback chain is at most as long as the channel list


class RunIncomplete(RuntimeError):
    """Some messages are still failed transiently after retries: rerun the failed batches later."""


@flow(name="monthly-billing-run", flow_run_name="{tenant} {period}", log_prints=False)
def monthly_billing_run(tenant: str, period: str, source: str) -> dict:
    """Run a tenant's monthly billing for a period from an ERP extract (folder or s3:// URL)."""
    if not PERIOD.match(period):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    wiring.tenant_rules(tenant)  # fail fast on a bad rule file, before any work
    with sandbox_for_run(wiring.get_settings()):
        extracted = extract_to_ledger(tenant, period, source)
        wait([decide.submit(tenant, period, b) for b in extracted["batches"]])
        _render_and_dispatch(tenant, period)
        for channel in ("sms", "mailbox", "email"):
            receipts.submit(tenant, period, channel).result(raise_on_failure=False)
    summary = reconcile_run(tenant, period, extracted["invoice_rows"])
    left = summary["outcome"]["failed_transient"] + summary["outcome"]["pending"]
    if left:
        raise RunIncomplete(f"{left} documents not delivered yet (transient failures): rerun the run later")
    return summary


def _render_and_dispatch(tenant: str, period: str) -> None:
    """Render what is planned and send what is rendered, round by round while fallbacks get planned."""
    settings = wiring.get_settings()
    sender = dispatch.with_options(retries=settings.dispatch_retries,
                                   retry_delay_seconds=exponential_backoff(settings.dispatch_retry_delay_s))
    for _ in range(MAX_ROUNDS):
        run = wiring.run_of(tenant, period)
        with wiring.ledger().transaction() as session:
            batches = sorted({b for _, b in channel_batches(session, run.id, ("planned",))})
        wait([render.submit(tenant, period, b) for b in batches])
        with wiring.ledger().transaction() as session:
            pairs = channel_batches(session, run.id, ("rendered", "sending", "failed"))
        futures = [sender.submit(tenant, period, channel, b) for channel, b in pairs]
        wait(futures)
        failed = [f for f in futures if f.state.is_failed()]
        if failed:
            get_run_logger().warning("%d dispatch batches still have transient failures", len(failed))
        if not fallbacks(tenant, period):
            return
