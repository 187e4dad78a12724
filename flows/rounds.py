"""Orchestration shared by the monthly run and the rerun: render, dispatch in rounds, receipts, failed batches."""

from __future__ import annotations

from prefect.futures import as_completed, wait
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from omnibill import wiring
from omnibill.ledger.repository import DISPATCHABLE_STATES, batch_numbers, channel_batches
from omnibill.ops import events
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import missing_limits
from omnibill.ops.queries import failed_transient
from tasks.decide import fallbacks
from tasks.dispatch import dispatch, receipts
from tasks.render import render

MAX_ROUNDS = 6  # a fallback chain is at most as long as the channel list
RECEIPT_CHANNELS = ("sms", "mailbox", "email")


class RunIncomplete(RuntimeError):
    """Some messages are still failed transiently after retries: rerun the failed batches later."""


def batch_count(tenant: str, period: str) -> int:
    """How many batches the run has (for task names like `dispatch[sms] batch 3/40`)."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        return len(batch_numbers(session, run.id))


def render_and_dispatch(tenant: str, period: str, progress: Progress, channel: str | None = None,
                        batch: int | None = None) -> list[tuple[str, int]]:
    """Render what is planned and send what is rendered, round by round while fallbacks get planned.

    Only the given channel and/or batch when set. Returns the (channel, batch) pairs that still
    failed transiently after their retries, and emits `omnibill.batch.failed` for each.
    """
    settings = wiring.get_settings()
    sender = dispatch.with_options(retries=settings.dispatch_retries,
                                   retry_delay_seconds=exponential_backoff(settings.dispatch_retry_delay_s))
    total = batch_count(tenant, period)
    run = wiring.run_of(tenant, period)
    if missing := missing_limits(tenant):
        get_run_logger().info("no provider limits (%s): batches run unlimited; `omnibill limits setup` makes them",
                              ", ".join(missing))
    failed: list[tuple[str, int]] = []
    for round_no in range(MAX_ROUNDS):
        with wiring.ledger().transaction() as session:
            batches = sorted({b for _, b in channel_batches(session, run.id, ("planned",)) if batch in (None, b)})
        wait([render.submit(tenant, period, b, total) for b in batches])
        progress.at(50 if round_no == 0 else progress.percent)
        with wiring.ledger().transaction() as session:
            pairs = [(c, b) for c, b in channel_batches(session, run.id, DISPATCHABLE_STATES)
                     if channel in (None, c) and batch in (None, b)]
        failed = _dispatch_all(tenant, period, sender, pairs, total, progress if round_no == 0 else None)
        if not fallbacks(tenant, period):
            break
    _report_failed(tenant, period, run.id, failed)
    return failed


def _dispatch_all(tenant, period, sender, pairs, total, progress: Progress | None) -> list[tuple[str, int]]:
    futures = {sender.submit(tenant, period, c, b, total): (c, b) for c, b in pairs}
    failed = []
    for done, future in enumerate(as_completed(list(futures)), start=1):
        # wait() pins the final state: `.state` alone asks the API, which records task runs from
        # events and may still say Running.
        future.wait()
        if future.state.is_failed():
            failed.append(futures[future])
        if progress is not None:
            progress.between(50, 90, done, len(futures))
    return sorted(failed)


def _report_failed(tenant: str, period: str, run_id: str, failed: list[tuple[str, int]]) -> None:
    if not failed:
        return
    with wiring.ledger().transaction() as session:
        left = {pair: failed_transient(session, run_id, *pair) for pair in failed}
    for (channel, batch_no), n in left.items():
        events.batch_failed(tenant, period, channel, batch_no, n)
    get_run_logger().warning("%d dispatch batches still have transient failures after retries: %s", len(failed),
                             ", ".join(f"{c} batch {b} ({n} messages)" for (c, b), n in left.items()))


def collect_receipts(tenant: str, period: str) -> None:
    """Delivery reports from every provider that has them (a failure here does not fail the run)."""
    for channel in RECEIPT_CHANNELS:
        receipts.submit(tenant, period, channel).result(raise_on_failure=False)


def invoice_rows_of(tenant: str, period: str) -> int:
    """The extract's invoice rows, as the last reconciliation counted them (documents + quarantined if none)."""
    run = wiring.run_of(tenant, period)
    if run.summary and run.summary.get("invoice_rows"):
        return int(run.summary["invoice_rows"])
    from omnibill.reconcile import reconcile

    with wiring.ledger().transaction() as session:
        rec = reconcile(session, run, 0)
    return rec.documents_in_ledger + rec.quarantined
