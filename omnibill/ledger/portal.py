"""Ledger queries of the recipients' portal: a document behind its link, the recipient's history,
opens, and the choices they make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Customer, Document, Message, Preference
from omnibill.ledger.repository import chunks
from omnibill.model import MESSAGE_CATEGORIES

SENT = ("sent", "delivered")


def document_behind_link(session: Session, document_id: str) -> tuple[Document, Customer, BillingRun] | None:
    """A document with its customer (as extracted for its run) and its run."""
    row = session.execute(
        select(Document, Customer, BillingRun)
        .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
        .join(BillingRun, BillingRun.id == Document.run_id)
        .where(Document.id == document_id)).first()
    return (row[0], row[1], row[2]) if row else None


def customer_documents(session: Session, tenant: str, customer_id: str, limit: int = 24) -> list[Document]:
    """A customer's billing documents of a tenant across runs, newest first."""
    stmt = (select(Document).join(BillingRun, BillingRun.id == Document.run_id)
            .where(BillingRun.tenant == tenant, Document.customer_id == customer_id,
                   Document.document_type.not_in(MESSAGE_CATEGORIES), Document.decision.is_not(None))
            .order_by(Document.issue_date.desc(), Document.invoice_id.desc()).limit(limit))
    return list(session.scalars(stmt))


def messages_to_customer(session: Session, document_ids: Sequence[str]) -> list[Message]:
    """The messages of these documents that left (or tried to), newest first: what was sent where and when."""
    found: list[Message] = []
    for part in chunks(list(document_ids)):
        found.extend(session.scalars(select(Message).where(
            Message.document_id.in_(part), Message.state.not_in(("planned", "held", "cancelled")))))
    return sorted(found, key=lambda m: m.updated_at, reverse=True)


def mark_opened(session: Session, document_id: str, at: datetime) -> int:
    """Record the first open of a document on its sent primary messages; returns how many were marked."""
    return session.execute(
        update(Message).where(Message.document_id == document_id, Message.kind == "primary",
                              Message.state.in_(SENT), Message.opened_at.is_(None))
        .values(opened_at=at)).rowcount


def mark_opened_by_ids(session: Session, opened: dict[str, datetime]) -> list[str]:
    """Record opens reported by providers (mailbox read status) on messages not yet marked opened; the ids marked."""
    marked: list[str] = []
    for part in chunks(sorted(opened)):
        stmt = (select(Message.id).where(Message.id.in_(part), Message.opened_at.is_(None))
                .order_by(Message.id).with_for_update())  # PostgreSQL re-checks opened_at once a lock is released
        ids = list(session.scalars(stmt))
        if ids:
            session.execute(update(Message), [{"id": i, "opened_at": opened[i]} for i in ids])
        marked.extend(ids)
    return marked


def add_preferences(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Store choices: [{"tenant", "customer_id", "category", "channel", "status", "source", "recorded_at", ...}]."""
    rows = list(rows)
    if rows:
        session.execute(Preference.__table__.insert(), rows)


def latest_preferences(session: Session, tenant: str, customer_ids: Sequence[str]
                       ) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """Customer -> category -> channel -> the latest choice made outside the ERP ({status, recorded_at, source})."""
    found: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for part in chunks(list(customer_ids)):
        stmt = (select(Preference).where(Preference.tenant == tenant, Preference.customer_id.in_(part))
                .order_by(Preference.recorded_at, Preference.id))
        for p in session.scalars(stmt):
            found.setdefault(p.customer_id, {}).setdefault(p.category, {})[p.channel] = {
                "status": p.status, "recorded_at": p.recorded_at.isoformat(), "source": p.source}
    return found
