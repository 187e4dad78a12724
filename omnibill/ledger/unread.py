"""Ledger queries of print-if-unread: documents whose digital message nobody opened in time, and their letters.

The moment a message was sent is its first `message_events` row into `sent` (dispatch records one for
every message it sends); `messages.updated_at` only when there is no such row. `updated_at` moves on
with every later change (a delivery report turns `sent` into `delivered` hours or days later), so it
would say "sent" too late. Repositories never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from omnibill.ledger.models import Customer, Document, Message, MessageEvent

SENT = ("sent", "delivered")
LETTER_KIND = "print_if_unread"  # messages.kind of a letter printed because the digital message was unread


def sent_at():
    """SQL expression: when a message was sent (its first event into `sent`; else its last change)."""
    first_sent = (select(func.min(MessageEvent.at))
                  .where(MessageEvent.message_id == Message.id, MessageEvent.to_state == "sent")
                  .correlate(Message).scalar_subquery())
    return func.coalesce(first_sent, Message.updated_at, type_=Message.updated_at.type)


def unread_documents(session: Session, run_id: str, *, categories: Sequence[str], channels: Sequence[str],
                     cutoff: datetime) -> list[tuple[Document, Customer, Message, datetime]]:
    """Documents of a run that wait for a letter, each with its customer, its unread message and when it was sent.

    A document qualifies when its category is one of `categories`; a primary message of it in one of
    `channels` was sent or delivered before `cutoff` and not opened; no message of it was opened at all
    (portal or mailbox read status); and it has no print message of any kind yet (neither a primary
    letter, whatever its state, nor an earlier print-if-unread letter). With several such messages,
    the one sent last. Ordered by ERP document id.
    """
    if not categories or not channels:
        return []
    when = sent_at()
    other = aliased(Message)
    opened_or_printed = exists().where(other.document_id == Document.id,
                                       or_(other.opened_at.is_not(None), other.channel == "print"))
    stmt = (select(Document, Customer, Message, when.label("sent_at"))
            .join(Message, Message.document_id == Document.id)
            .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
            .where(Document.run_id == run_id, Document.document_type.in_(list(categories)),
                   Message.run_id == run_id, Message.kind == "primary", Message.channel.in_(list(channels)),
                   Message.state.in_(SENT), Message.opened_at.is_(None), when < _utc(cutoff), ~opened_or_printed)
            .order_by(Document.invoice_id, when, Message.id))
    latest: dict[str, tuple[Document, Customer, Message, datetime]] = {}
    for doc, customer, message, at in session.execute(stmt):
        latest[doc.id] = (doc, customer, message, _utc(at))  # ordered by time: the last one sent wins
    return list(latest.values())


def letter_states(session: Session, run_id: str) -> Counter:
    """The print-if-unread letters of a run, counted by state (`failed` split into transient and permanent)."""
    stmt = (select(Message.state, Message.permanent, func.count())
            .where(Message.run_id == run_id, Message.kind == LETTER_KIND)
            .group_by(Message.state, Message.permanent))
    counts: Counter = Counter()
    for state, permanent, n in session.execute(stmt):
        counts["rejected" if state == "failed" and permanent else state] += n
    return counts


def _utc(moment: datetime) -> datetime:
    """SQLite gives moments back without their offset (they were written in UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
