"""Proof and release in the ledger: a run waiting for a person's approval, and that person's decision."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import (BillingRun, Customer, DispatchAttempt, Document, Message, MessageEvent, Payment,
                                    ProviderEvent, QuarantinedRow, Receipt)

SENT_STATES = ("sending", "sent", "delivered")


def await_release(session: Session, run_id: str, flow_run_id: str | None, api_url: str | None) -> None:
    """The run waits for approval; `omnibill release` resumes this flow run through this API."""
    session.execute(update(BillingRun).where(BillingRun.id == run_id).values(
        release_state="awaiting", release_flow_run=flow_run_id, release_api_url=api_url, release_by=None,
        release_comment=None, released_at=None))


def decide_release(session: Session, run_id: str, approve: bool, by: str, comment: str) -> bool:
    """Record a person's decision on a run awaiting release; False when it awaits none (already decided)."""
    done = session.execute(update(BillingRun).where(BillingRun.id == run_id,
                                                    BillingRun.release_state == "awaiting").values(
        release_state="approved" if approve else "rejected", release_by=by[:128], release_comment=comment,
        released_at=datetime.now(timezone.utc)))
    return bool(done.rowcount)


def reset_release(session: Session, run_id: str) -> None:
    """A new execution of a rejected run (a corrected extract or template) needs a new approval."""
    session.execute(update(BillingRun).where(BillingRun.id == run_id, BillingRun.release_state == "rejected")
                    .values(release_state=None, release_flow_run=None, release_api_url=None))


def sent_count(session: Session, run_id: str) -> int:
    """Messages of the run that reached (or are reaching) a provider."""
    return len(session.scalars(select(Message.id).where(Message.run_id == run_id,
                                                        Message.state.in_(SENT_STATES)).limit(1)).all())


def discard_unsent(session: Session, run_id: str) -> None:
    """Forget what a rejected run extracted, decided and rendered (nothing of it was sent), so that the same
    period runs again from a corrected extract or template; the run and its decision stay."""
    messages = select(Message.id).where(Message.run_id == run_id)
    documents = select(Document.id).where(Document.run_id == run_id)
    for table, column in ((MessageEvent, MessageEvent.message_id), (DispatchAttempt, DispatchAttempt.message_id),
                          (Receipt, Receipt.message_id), (ProviderEvent, ProviderEvent.message_id)):
        session.execute(delete(table).where(column.in_(messages)))
    session.execute(update(Payment).where(Payment.document_id.in_(documents)).values(
        document_id=None, status="unmatched", reason="its document was withdrawn: the run was rejected at release"))
    session.execute(delete(Message).where(Message.run_id == run_id))
    session.execute(delete(Document).where(Document.run_id == run_id))
    session.execute(delete(Customer).where(Customer.run_id == run_id))
    session.execute(delete(QuarantinedRow).where(QuarantinedRow.run_id == run_id))
