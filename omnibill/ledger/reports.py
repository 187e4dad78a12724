"""Ledger reads for reports: reconciliation, status, explain, failures, the dry-run forecast."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from omnibill.ledger.models import Customer, Document, Message, QuarantinedRow
from omnibill.ledger.repository import DISPATCHABLE_STATES, chunks, not_permanently_failed
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.privacy import scrub

# What a real run would send: pending states and transient failures. Held companion notices
# are conditional on their primary message, so they are not forecast.
TO_SEND = ("planned", "rendered", "sending", "scheduled", "failed")
FAILURES_SHOWN = 500  # an artifact is a page in the UI, not an export: `status --json` has them all


def failures(session: Session, run_id: str, limit: int = FAILURES_SHOWN) -> list[dict[str, Any]]:
    """Failed messages with batch, channel, invoice, kind and masked reason, oldest batch first."""
    stmt = (select(Message.batch_no, Message.channel, Document.invoice_id, Message.permanent, Message.attempts,
                   Message.reason)
            .join(Document, Document.id == Message.document_id)
            .where(Message.run_id == run_id, Message.state == "failed")
            .order_by(Message.batch_no, Message.channel, Document.invoice_id).limit(limit))
    return [{"batch": b, "channel": c, "invoice": inv, "kind": "permanent" if perm else "transient",
             "attempts": n, "reason": scrub(reason)} for b, c, inv, perm, n, reason in session.execute(stmt)]


def failed_transient(session: Session, run_id: str, channel: str, batch_no: int) -> int:
    """Messages of one channel's batch still failed transiently (or left pending)."""
    stmt = select(func.count()).select_from(Message).where(
        Message.run_id == run_id, Message.channel == channel, Message.batch_no == batch_no,
        Message.state.in_(DISPATCHABLE_STATES), not_permanently_failed())
    return session.scalar(stmt) or 0


def forecast(session: Session, run_id: str) -> list[dict[str, Any]]:
    """Channel mix and cost of the messages a run would send (not failed permanently, not sent yet)."""
    stmt = (select(Message.channel, func.count(), func.sum(Message.cost))
            .where(Message.run_id == run_id, Message.state.in_(TO_SEND),
                   not_permanently_failed())
            .group_by(Message.channel).order_by(Message.channel))
    rows = [(c, n, Decimal(cost or 0)) for c, n, cost in session.execute(stmt)]
    total = sum(n for _, n, _ in rows) or 1
    return [{"channel": c, "messages": n, "share": f"{100 * n / total:.1f}%", "cost_eur": f"{cost:.2f}"}
            for c, n, cost in rows]



def _billing(billing: bool):
    """SQL condition: billing documents (invoices, credit notes, reminders) or the extract's messages."""
    return Document.document_type.not_in(MESSAGE_CATEGORIES) if billing else \
        Document.document_type.in_(MESSAGE_CATEGORIES)


def message_tallies(session: Session, run_id: str) -> list[tuple]:
    """(channel, kind, document type, state, permanent, currency, count, amount, cost, opened) of a run's messages."""
    return list(session.execute(
        select(Message.channel, Message.kind, Document.document_type, Message.state, Message.permanent,
               Document.currency, func.count(), func.sum(Document.total_incl_vat), func.sum(Message.cost),
               func.count(Message.opened_at))
        .join(Document, Document.id == Message.document_id).where(Message.run_id == run_id)
        .group_by(Message.channel, Message.kind, Document.document_type, Message.state, Message.permanent,
                  Document.currency)))


def count_documents(session: Session, run_id: str, *, billing: bool, decision: str | None = None) -> int:
    """Documents of a run (billing ones or the extract's messages), optionally with one decision."""
    stmt = select(func.count()).select_from(Document).where(Document.run_id == run_id, _billing(billing))
    if decision is not None:
        stmt = stmt.where(Document.decision == decision)
    return session.scalar(stmt) or 0


def count_quarantined(session: Session, run_id: str, table: str) -> int:
    """Quarantined rows of one extract table."""
    return session.scalar(select(func.count()).select_from(QuarantinedRow).where(
        QuarantinedRow.run_id == run_id, QuarantinedRow.table_name == table)) or 0


# Each document's outcome is its best primary message, by these ranks: a document's next primary is planned only
# once the one before failed, so at most one is not failed; of two failed ones, the transient failure (which a
# rerun may still send) counts.
_OUTCOME_OF_RANK = {50: "delivered", 40: "sent", 30: "pending", 22: "scheduled", 21: "pending", 11: "failed_transient",
                    10: "failed_permanent", 0: "pending"}
OUTCOMES = ("delivered", "sent", "scheduled", "pending", "failed_transient", "failed_permanent")


def document_outcomes(session: Session, run_id: str, *, billing: bool = True) -> dict[str, int]:
    """Documents of a run per final outcome (OUTCOMES), by the best of each one's primary messages, counted by the
    database: a run's messages are never read into the process."""
    state, failed = Message.state, Message.state == "failed"
    rank = case((state == "delivered", 50), (state == "sent", 40), (state == "sending", 30),
                (state == "scheduled", 22), (state.in_(("rendered", "planned")), 21),
                (failed & Message.permanent.is_(True), 10), (failed, 11), else_=0)
    best = (select(func.max(rank).label("rank")).join(Document, Document.id == Message.document_id)
            .where(Message.run_id == run_id, Message.kind == "primary", _billing(billing))
            .group_by(Message.document_id).subquery())
    outcome = dict.fromkeys(OUTCOMES, 0)
    for r, n in session.execute(select(best.c.rank, func.count()).group_by(best.c.rank)):
        outcome[_OUTCOME_OF_RANK[r]] += n
    return outcome


def documents_with_messages(session: Session, run_id: str) -> Iterator[tuple[Document, Message | None]]:
    """Every document of a run with each of its messages (None for a document without any), in order, as the
    database streams them (a run of a million documents is never in memory at once)."""
    stmt = (select(Document, Message).outerjoin(Message, Message.document_id == Document.id)
            .where(Document.run_id == run_id).order_by(Document.invoice_id, Message.created_at)
            .execution_options(yield_per=2000))
    for d, m in session.execute(stmt):
        yield d, m


def customer_in_run(session: Session, run_id: str, customer_id: str) -> Customer | None:
    """A customer as extracted for a run."""
    return session.scalars(select(Customer).where(Customer.run_id == run_id,
                                                  Customer.customer_id == customer_id)).first()


def documents_of_customer(session: Session, run_id: str, customer_id: str, *,
                          billing_only: bool = False) -> list[Document]:
    """A customer's documents in a run, by ERP id (billing documents only when asked)."""
    stmt = select(Document).where(Document.run_id == run_id, Document.customer_id == customer_id)
    if billing_only:
        stmt = stmt.where(_billing(True))
    return list(session.scalars(stmt.order_by(Document.invoice_id)))


def messages_of_documents(session: Session, document_ids: Sequence[str]) -> dict[str, list[Message]]:
    """Each document's messages, oldest first."""
    found: dict[str, list[Message]] = {}
    for part in chunks(list(document_ids)):
        stmt = select(Message).where(Message.document_id.in_(part)).order_by(Message.created_at)
        for m in session.scalars(stmt):
            found.setdefault(m.document_id, []).append(m)
    return found


def quarantined_of_customer(session: Session, run_id: str, customer_id: str) -> list[QuarantinedRow]:
    """A customer's quarantined extract rows in a run."""
    return list(session.scalars(select(QuarantinedRow).where(QuarantinedRow.run_id == run_id,
                                                             QuarantinedRow.customer_id == customer_id)
                                .order_by(QuarantinedRow.table_name, QuarantinedRow.row_number)))
