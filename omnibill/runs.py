"""One run of a tenant's period at a time: a hold on the run row in the ledger, kept alive by a heartbeat.

The guard lives in the ledger, not only in a Prefect concurrency limit (which is absent until
`omnibill limits setup`): a scheduled run, an operator's rerun and a second worker are told plainly
that the period is busy. A holder that died loses its hold when the lease lapses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.runs import let_go_run, renew_run, take_run

log = logging.getLogger(__name__)


class ExpectedStop(RuntimeError):
    """A run stopping as designed (another holds the period, messages left for a rerun, awaiting release,
    rejected): its message says what to do; a traceback would only bury it."""


class RunActive(ExpectedStop):
    """Another run (or rerun, or release) of the same tenant and period is under way."""


def utc(moment: datetime) -> datetime:
    """A stored moment in UTC (SQLite gives it back without its offset; it was written in UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def busy_text(run: BillingRun) -> str:
    """What a second run is told: who holds the period, since when, and how to look at it."""
    since = f"{utc(run.held_since):%Y-%m-%d %H:%M:%S} UTC" if run.held_since else "?"
    until = f"{utc(run.held_until):%H:%M:%S} UTC" if run.held_until else "?"
    return (f"a run of {run.tenant} {run.period} is active: started {since} by {run.holder}. "
            f"Follow it with `omnibill status --tenant {run.tenant} --period {run.period}` or in the Prefect UI. "
            f"If that process has died, its hold lapses at {until} and a new run can start.")


class Hold:
    """A run held by this process; `check()` raises RunActive once the hold was lost (the heartbeat failed)."""

    def __init__(self, run: BillingRun):
        self.run = run
        self.lost = threading.Event()

    def check(self) -> None:
        """Stop a run that lost its hold: another may have taken the period meanwhile."""
        if self.lost.is_set():
            raise RunActive(f"the run of {self.run.tenant} {self.run.period} lost its hold (this process stalled "
                            "past its lease, another run may have started): stopped; rerun it when that one is done")


@contextmanager
def hold_run(ledger: Ledger, tenant: str, period: str, holder: str, *, lease_s: float,
             create: bool) -> Iterator[Hold]:
    """Hold a tenant's period for the duration of the block, or raise RunActive (LookupError: no such run)."""
    now = datetime.now(timezone.utc)
    with ledger.transaction() as session:
        won, run = take_run(session, tenant, period, holder, now=now, held_until=now + timedelta(seconds=lease_s),
                            create=create)
    if run is None:
        raise LookupError(f"no billing run for tenant {tenant!r} and period {period} in the ledger")
    if not won:
        raise RunActive(busy_text(run))
    stop, hold = threading.Event(), Hold(run)
    beat = threading.Thread(target=_heartbeat, args=(ledger, run.id, holder, lease_s, stop, hold.lost),
                            name=f"hold {tenant} {period}", daemon=True)
    beat.start()
    try:
        with ledger.statistics_kept():  # the flow fills the run's tables: the planner follows them as they grow
            yield hold
    finally:
        stop.set()
        beat.join()
        with ledger.transaction() as session:
            let_go_run(session, run.id, holder)


def _heartbeat(ledger: Ledger, run_id: str, holder: str, lease_s: float, stop: threading.Event,
               lost: threading.Event) -> None:
    while not stop.wait(lease_s / 3):
        try:
            with ledger.transaction() as session:
                kept = renew_run(session, run_id, holder,
                                 datetime.now(timezone.utc) + timedelta(seconds=lease_s))
        except Exception:  # noqa: BLE001 - a missed beat is retried; the lease covers two more
            log.warning("could not renew the hold on run %s", run_id, exc_info=True)
            continue
        if not kept:
            log.error("run %s: the hold was lost (this process stalled past its lease); another run may start",
                      run_id)
            lost.set()
            return
