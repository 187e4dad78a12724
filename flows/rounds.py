"""Orchestration shared by the monthly run, the rerun and the release of scheduled messages.

Decide the monthly run's batches (each rendered as soon as it is decided), render what is planned, send what
is rendered, collect what providers report back (bounces and rejections plan fallbacks), round by round while
fallbacks get planned. Only tasks are called here; the ledger is asked through the stages' read functions.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence

from prefect.futures import as_completed
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from config.channels import RECEIPT_CHANNELS
from omnibill import wiring
from omnibill.dispatch.stage import batch_count, batches_to_send, still_failing
from omnibill.memory import keep_trimmed
from omnibill.ops import events
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import missing_limits
from omnibill.proof.release import check_released
from omnibill.runs import ExpectedStop
from omnibill.render.stage import batches_to_render
from tasks.archive import archive
from tasks.decide import decide, fallbacks
from tasks.dispatch import dispatch
from tasks.receipts import receipts
from tasks.render import render

MAX_ROUNDS = 6  # a fallback chain is at most as long as the channel list
RENDER_AHEAD = 2  # batches rendering at once (each uses every core): the next is ready when one is sent
DECIDE_AHEAD = 2  # batches deciding at once while earlier ones render (deciding one is many times quicker)


class RunIncomplete(ExpectedStop):
    """Some messages are still failed transiently after retries: rerun the failed batches later."""


def without_expected_traceback(record: logging.LogRecord) -> bool:
    """Log filter: a flow run that stops as designed logs its message, not a traceback."""
    if record.exc_info and isinstance(record.exc_info[1], ExpectedStop):
        record.exc_info, record.exc_text = None, None
    return True


logging.getLogger("prefect.flow_runs").addFilter(without_expected_traceback)


def holder_name() -> str:
    """Who holds a run in the ledger: this flow run (name and id) on this host and process."""
    who = f"flow run '{flow_run.name}' ({flow_run.id})" if flow_run.id else f"process {uuid.uuid4().hex[:8]}"
    return f"{who} on {socket.gethostname()}:{os.getpid()}"[:128]


def render_and_dispatch(tenant: str, period: str, progress: Progress, channel: str | None = None,
                        batch: int | None = None, hold=None,
                        when_rendered: Callable[[], object] | None = None,
                        to_decide: Sequence[int] = ()) -> list[tuple[str, int]]:
    """Render what is planned and send what is rendered, round by round while fallbacks get planned.

    Only the given channel and/or batch when set. Returns the (channel, batch) pairs that still
    failed transiently after their retries, and emits `omnibill.batch.failed` for each. With the run's
    `hold`, each round first checks that the run still holds its period. `when_rendered` is called once the
    first round's last batch is rendered, while its dispatches and archives still run (the proof starts there).
    The batches `to_decide` are decided in the first round, each rendered as soon as it is decided (progress
    10-30% as they are). A batch that cannot be decided stops the deciding: the batches decided before are
    rendered, sent and archived, then its error is raised (running the month again decides the rest).
    """
    keep_trimmed()  # a rerun or release sends here without the monthly flow
    settings = wiring.get_settings()
    run = wiring.run_of(tenant, period)
    # A tenant that releases by hand sends nothing of an unapproved run, whichever flow asks (rerun, release).
    check_released(wiring.ledger(), run, wiring.tenant_rules(tenant))
    sender = dispatch.with_options(retries=settings.dispatch_retries,
                                   retry_delay_seconds=exponential_backoff(settings.dispatch_retry_delay_s))
    total = batch_count(wiring.ledger(), run)
    if missing := missing_limits(tenant):
        get_run_logger().info("no provider limits (%s): batches run unlimited; `omnibill limits setup` makes them",
                              ", ".join(missing))
    failed: list[tuple[str, int]] = []
    archives: list = []
    for round_no in range(MAX_ROUNDS):
        if hold is not None:
            hold.check()
        batches = _Batches(tenant, period, archives)
        deciding = Decides(tenant, period, to_decide if round_no == 0 else [], total, progress)
        _render_and_send(tenant, period, sender, run, channel, batch, total, batches, deciding)
        if deciding.error is not None:
            _report_failed(tenant, period, _wait_for_dispatch(batches, progress))
            _finish_archives(tenant, period, archives)
            get_run_logger().error("%s %s: a batch could not be decided; the batches decided before it were sent, "
                                   "the rest is decided when the month is run again: omnibill run --tenant %s "
                                   "--period %s", tenant, period, tenant, period)
            raise deciding.error
        if round_no == 0 and when_rendered is not None:
            when_rendered()
        failed = _wait_for_dispatch(batches, progress if round_no == 0 else None)
        # What came back already (a bounce, an access point's rejection) plans its fallback in this run.
        collect_receipts(tenant, period)
        if not fallbacks(tenant, period):
            break
    _report_failed(tenant, period, failed)
    _finish_archives(tenant, period, archives)
    return failed


def _finish_archives(tenant: str, period: str, archives: list) -> None:
    """What was sent goes to the archive (PDF/A-3b): each batch once it was sent, then what later rounds sent.
    A failure here is tried again by the next run or rerun."""
    for future in archives:
        future.wait()
    states = [future.state for future in archives] + [archive(tenant, period, return_state=True)]
    if any(state.is_failed() for state in states):
        get_run_logger().warning("archiving %s %s failed: the next run or rerun archives what is missing",
                                 tenant, period)


class _Batches:
    """A round's dispatch futures, (channel, batch) by future; a batch whose every dispatch has finished goes
    to the archive at once (in the render processes, beside the rendering and sending of later batches)."""

    def __init__(self, tenant: str, period: str, archives: list):
        self.tenant, self.period, self.archives = tenant, period, archives
        self.dispatches: dict = {}
        self.unseen: set = set()
        self.open: dict[int, int] = {}

    def add(self, future, pair: tuple[str, int]) -> None:
        self.dispatches[future] = pair
        self.unseen.add(future)
        self.open[pair[1]] = self.open.get(pair[1], 0) + 1

    def seen(self, future) -> None:
        """Note a finished dispatch; the batch's archive starts with its last one."""
        pair = self.dispatches[future]
        if future in self.unseen:
            self.unseen.discard(future)
            self.open[pair[1]] -= 1
            if not self.open[pair[1]]:
                self.archives.append(archive.submit(self.tenant, self.period, pair[1]))


class Decides:
    """Batches being decided, `ahead` at a time (the progress moves 10-30% as they are).

    A batch that cannot be decided keeps its error in `error` and stops the deciding: no further batch is
    submitted; those already submitted finish.
    """

    def __init__(self, tenant: str, period: str, batch_nos: Sequence[int], total: int, progress: Progress,
                 ahead: int = DECIDE_AHEAD):
        self.tenant, self.period, self.total, self.progress, self.ahead = tenant, period, total, progress, ahead
        self.undecided = list(batch_nos)
        self.running: dict = {}
        self.count = len(self.undecided)
        self.error: Exception | None = None

    def __contains__(self, batch_no: int) -> bool:
        return batch_no in self.undecided or batch_no in self.running.values()

    def submit(self) -> None:
        while self.undecided and len(self.running) < self.ahead:
            b = self.undecided.pop(0)
            self.running[decide.submit(self.tenant, self.period, b, self.total)] = b

    def finished(self, future) -> int | None:
        """The batch a finished decide decided, or None when it failed."""
        batch_no = self.running.pop(future)
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - kept, and raised once what was decided before is sent
            self.error = self.error or exc
            self.undecided.clear()
            return None
        self.progress.between(10, 30, self.count - len(self.undecided) - len(self.running), self.count)
        return batch_no


def _render_and_send(tenant, period, sender, run, channel, batch, total, batches: _Batches,
                     deciding: Decides) -> None:
    """Render batch by batch and send each batch as soon as it is rendered, with RENDER_AHEAD batches rendering
    at most: dispatch (network-bound) goes on while the next batch renders (CPU-bound), and memory stays flat.
    Batches to decide are rendered as each is decided, while later ones are decided.

    The dispatch futures go to `batches`. Messages of a batch still being decided or rendered are sent once it
    is; batches with nothing to render (left from an earlier run) are sent at once.
    """
    ledger = wiring.ledger()
    waiting = [b for b in batches_to_render(ledger, run, batch) if b not in deciding]

    def send(pairs) -> None:
        for pair in pairs:
            batches.add(sender.submit(tenant, period, *pair, total), pair)

    send(p for p in batches_to_send(ledger, run, channel, batch) if p[1] not in waiting and p[1] not in deciding)
    rendering: dict = {}
    while waiting or rendering or deciding.running or deciding.undecided:
        deciding.submit()
        while waiting and len(rendering) < RENDER_AHEAD:
            b = waiting.pop(0)
            rendering[render.submit(tenant, period, b, total)] = b
        # The first to finish: a decided batch is rendered; a rendered batch is sent; a sent batch is archived.
        done = next(as_completed(list(deciding.running) + list(rendering) + list(batches.unseen)))
        done.wait()
        if done in deciding.running:
            if (decided := deciding.finished(done)) is not None:
                waiting.append(decided)
        elif done in rendering:
            send(batches_to_send(ledger, run, channel, rendering.pop(done)))
        else:
            batches.seen(done)


def _wait_for_dispatch(batches: _Batches, progress: Progress | None) -> list[tuple[str, int]]:
    failed = []
    for done, future in enumerate(as_completed(list(batches.dispatches)), start=1):
        # wait() pins the final state: `.state` alone asks the API, which records task runs from
        # events and may still say Running.
        future.wait()
        if future.state.is_failed():
            failed.append(batches.dispatches[future])
        batches.seen(future)
        if progress is not None:
            progress.between(50, 90, done, len(batches.dispatches))
    return sorted(failed)


def _report_failed(tenant: str, period: str, failed: list[tuple[str, int]]) -> None:
    """One warning line per batch still failing after its retries, with the command that sends it again."""
    if not failed:
        return
    left = still_failing(wiring.ledger(), wiring.run_of(tenant, period), failed)
    logger = get_run_logger()
    for (channel, batch_no), n in left.items():
        events.batch_failed(tenant, period, channel, batch_no, n)
        logger.warning("dispatch[%s] batch %d: %d messages still not sent after retries; to send them when "
                       "the provider is back: omnibill rerun --tenant %s --period %s --channel %s --batch %d",
                       channel, batch_no, n, tenant, period, channel, batch_no)


def collect_receipts(tenant: str, period: str) -> None:
    """Delivery reports from every provider that has them, the channels at once (a failure here does not fail
    the run)."""
    for future in [receipts.submit(tenant, period, channel) for channel in RECEIPT_CHANNELS]:
        future.wait()


def settle_reports(tenant: str, period: str, progress: Progress, hold=None) -> int:
    """Reports that came in after a run (a late bounce, a rejection): apply them, and send the fallbacks they
    plan. Returns how many messages were planned."""
    collect_receipts(tenant, period)
    planned = fallbacks(tenant, period)
    if planned:
        render_and_dispatch(tenant, period, progress, hold=hold)
    return planned


def left_to_do(summary: dict) -> int:
    """Documents, messages and notices a run has not finished: failed transiently or pending (not scheduled)."""
    return int(summary.get("left_to_send", 0))
