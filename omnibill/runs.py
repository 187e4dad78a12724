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


class RunActive(RuntimeError):
    """Another run (or rerun, or release) of the same tenant and period is under way."""


def busy_text(run: BillingRun) -> str:
    """What a second run is told: who holds the period, since when, and how to look at it."""
    since = run.held_since.strftime("%Y-%m-%d %H:%M:%S UTC") if run.held_since else "?"
    until = run.held_until.strftime("%H:%M:%S UTC") if run.held_until else "?"
    return (f"a run of {run.tenant} {run.period} is active: started {since} by {run.holder}. "
            f"Follow it with `omnibill status --tenant {run.tenant} --period {run.period}` or in the Prefect UI. "
            f"If that process has died, its hold lapses at {until} and a new run can start.")


@contextmanager
def hold_run(ledger: Ledger, tenant: str, period: str, holder: str, *, lease_s: float,
             create: bool) -> Iterator[BillingRun]:
    """Hold a tenant's period for the duration of the block, or raise RunActive (LookupError: no such run)."""
    now = datetime.now(timezone.utc)
    with ledger.transaction() as session:
        won, run = take_run(session, tenant, period, holder, now=now, held_until=now + timedelta(seconds=lease_s),
                            create=create)
    if run is None:
        raise LookupError(f"no billing run for tenant {tenant!r} and period {period} in the ledger")
    if not won:
        raise RunActive(busy_text(run))
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ledger, run.id, holder, lease_s, stop),
                            name=f"hold {tenant} {period}", daemon=True)
    beat.start()
    try:
        yield run
    finally:
        stop.set()
        beat.join()
        with ledger.transaction() as session:
            let_go_run(session, run.id, holder)


def _heartbeat(ledger: Ledger, run_id: str, holder: str, lease_s: float, stop: threading.Event) -> None:
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
            return
