"""Ledger queries on billing runs: the run of a tenant's period, who holds it now, its summary."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Message
from omnibill.ledger.repository import insert_ignore
from omnibill.model import stable_id


def run_key(tenant: str, period: str) -> str:
    """The ledger id of a tenant's period."""
    return stable_id("run", tenant, period)


def open_run(session: Session, tenant: str, period: str, source: str) -> BillingRun:
    """The run of a tenant's period, created on first use; counts each execution of the extract."""
    run = session.get(BillingRun, run_key(tenant, period))
    if run is None:
        run = BillingRun(id=run_key(tenant, period), tenant=tenant, period=period, source=source, executions=0)
        session.add(run)
    run.executions += 1
    run.status = "running"
    run.source = source
    session.flush()
    return run


def find_run(session: Session, tenant: str, period: str) -> BillingRun | None:
    """The run of a tenant's period, if any."""
    return session.get(BillingRun, run_key(tenant, period))


def run_by_id(session: Session, run_id: str) -> BillingRun:
    """A run by its ledger id."""
    return session.get(BillingRun, run_id)


def finish_run(session: Session, run_id: str, summary: dict[str, Any], status: str) -> None:
    """Store a run's reconciliation and its status (complete, scheduled, incomplete, unbalanced)."""
    run = session.get(BillingRun, run_id)
    run.summary = summary
    run.status = status
    run.finished_at = datetime.now(timezone.utc)


def take_run(session: Session, tenant: str, period: str, holder: str, *, now: datetime,
             held_until: datetime, create: bool) -> tuple[bool, BillingRun | None]:
    """Hold a tenant's period for `holder` with one conditional update: (won, the run as it is now).

    Won when nobody holds it, the holder's lease has lapsed, or `holder` holds it already. With
    `create` the run row is made first when it does not exist (a monthly run); else a missing run
    answers (False, None).
    """
    key = run_key(tenant, period)
    if create:
        insert_ignore(session, BillingRun, [{"id": key, "tenant": tenant, "period": period, "source": "",
                                             "status": "new", "executions": 0, "started_at": now}])
    taken = session.execute(
        update(BillingRun)
        .where(BillingRun.id == key, or_(BillingRun.holder.is_(None), BillingRun.held_until < now,
                                         BillingRun.holder == holder))
        .values(holder=holder, held_since=now, held_until=held_until)).rowcount
    return bool(taken), session.get(BillingRun, key, populate_existing=True)


def renew_run(session: Session, run_id: str, holder: str, held_until: datetime) -> bool:
    """Extend the holder's lease on a run; False when it is no longer the holder."""
    return bool(session.execute(update(BillingRun).where(BillingRun.id == run_id, BillingRun.holder == holder)
                                .values(held_until=held_until)).rowcount)


def let_go_run(session: Session, run_id: str, holder: str) -> None:
    """Give a run up (only when `holder` still holds it)."""
    session.execute(update(BillingRun).where(BillingRun.id == run_id, BillingRun.holder == holder)
                    .values(holder=None, held_until=None))


def next_scheduled(session: Session, tenant: str) -> datetime | None:
    """When the first of a tenant's scheduled messages becomes due (None when nothing is scheduled)."""
    return session.scalar(select(func.min(Message.not_before)).join(BillingRun, BillingRun.id == Message.run_id)
                          .where(BillingRun.tenant == tenant, Message.state == "scheduled"))


def runs_awaiting_reports(session: Session, tenant: str, channels: tuple[str, ...], since: datetime
                          ) -> list[BillingRun]:
    """A tenant's runs with messages sent since `since` in channels whose providers report back (a bounce,
    a rejection may still come), oldest period first."""
    sent = select(Message.run_id).where(Message.state == "sent", Message.channel.in_(channels),
                                        Message.updated_at >= since).distinct()
    stmt = select(BillingRun).where(BillingRun.tenant == tenant, BillingRun.id.in_(sent)).order_by(BillingRun.period)
    return list(session.scalars(stmt))


def runs_to_release(session: Session, tenant: str, now: datetime) -> list[BillingRun]:
    """A tenant's runs with scheduled messages whose time has come, or left `scheduled` by the last release
    (one that crashed after releasing leaves its messages ready but none due), oldest period first."""
    due = select(Message.run_id).where(Message.state == "scheduled", Message.not_before <= now).distinct()
    stmt = (select(BillingRun).where(BillingRun.tenant == tenant,
                                     or_(BillingRun.id.in_(due), BillingRun.status == "scheduled"))
            .order_by(BillingRun.period))
    return list(session.scalars(stmt))
