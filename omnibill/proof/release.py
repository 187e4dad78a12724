"""Release of a run whose tenant approves each run by hand: the decision in the ledger, and the gate that
keeps anything from being sent before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from config.tenant import TenantRules
from omnibill.ledger import release as stored
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.runs import run_by_id
from omnibill.runs import ExpectedStop


class NotReleased(ExpectedStop):
    """The tenant releases runs by hand and this one is not approved: nothing may be sent."""


@dataclass(frozen=True)
class Release:
    """A run's release as the ledger has it."""

    state: str | None  # None (not asked yet), awaiting, approved, rejected
    by: str | None
    comment: str | None
    at: datetime | None
    flow_run: str | None
    api_url: str | None


def release_of(ledger: Ledger, run: BillingRun) -> Release:
    """The run's release now."""
    with ledger.read() as session:
        r = run_by_id(session, run.id)
        return Release(r.release_state, r.release_by, r.release_comment, r.released_at, r.release_flow_run,
                       r.release_api_url)


def check_released(ledger: Ledger, run: BillingRun, rules: TenantRules) -> None:
    """Raise NotReleased unless the tenant releases automatically or a person approved this run."""
    if rules.release == "manual" and (state := release_of(ledger, run).state) != "approved":
        raise NotReleased(f"{run.tenant} {run.period} is {'awaiting release' if state else 'not released'}: nothing "
                          f"is sent before `omnibill release --tenant {run.tenant} --period {run.period} --approve "
                          "--by NAME` (or the form of the paused flow run in the Prefect UI)")


def start_awaiting(ledger: Ledger, run: BillingRun, flow_run_id: str | None, api_url: str | None) -> None:
    """The run waits for a person (a new execution of a rejected run waits again)."""
    with ledger.transaction() as session:
        stored.await_release(session, run.id, flow_run_id, api_url)


def decide(ledger: Ledger, run: BillingRun, approve: bool, by: str, comment: str = "") -> Release:
    """Record a decision on a run awaiting release (a second decision changes nothing); a rejected run's
    extract, decisions and renderings are withdrawn so that a corrected one can run for the same period."""
    if not by.strip():
        raise ValueError("say who decides (--by NAME)")
    with ledger.transaction() as session:
        if stored.decide_release(session, run.id, approve, by.strip(), comment.strip()) and not approve:
            if stored.sent_count(session, run.id):
                raise RuntimeError(f"{run.tenant} {run.period} has sent messages: it cannot be rejected now")
            stored.discard_unsent(session, run.id)
            run_by_id(session, run.id).status = "rejected"
    return release_of(ledger, run)


def rerun_after_rejection(ledger: Ledger, run: BillingRun) -> None:
    """A run of a period whose last execution was rejected asks for approval again."""
    with ledger.transaction() as session:
        stored.reset_release(session, run.id)
