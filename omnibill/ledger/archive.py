"""Ledger queries of the archive: sent documents not yet archived, what was archived, and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from omnibill.ledger.decisions import SENT
from omnibill.ledger.models import ArchivedDocument, BillingRun, Customer, Document, Message
from omnibill.ledger.repository import chunks, insert_ignore
from omnibill.model import MESSAGE_CATEGORIES


def documents_to_archive(session: Session, run_id: str, batch_no: int | None = None,
                         limit: int | None = None) -> list[tuple[Document, Customer, list[Message]]]:
    """Billing documents of a run with a message sent or delivered and no archived copy yet, with their
    customer and those messages (primary ones first). Service and marketing messages are not archived."""
    # Correlated by document (each on an index), so a batch's query reads that batch's rows, not every sent or
    # archived document of the run: as NOT IN over the run's archive, a run of 100,000 customers read 18 million rows.
    archived = exists().where(ArchivedDocument.document_id == Document.id)
    sent = exists().where(Message.document_id == Document.id, Message.state.in_(SENT))
    stmt = (select(Document, Customer)
            .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
            .where(Document.run_id == run_id, sent, ~archived, Document.document_type.not_in(MESSAGE_CATEGORIES))
            .order_by(Document.invoice_id))
    if batch_no is not None:
        stmt = stmt.where(Document.batch_no == batch_no)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = [(d, c) for d, c in session.execute(stmt)]
    messages: dict[str, list[Message]] = {d.id: [] for d, _ in rows}
    for part in chunks(list(messages)):
        found = session.scalars(select(Message).where(Message.document_id.in_(part), Message.state.in_(SENT))
                                .order_by(Message.kind != "primary", Message.id))
        for m in found:
            messages[m.document_id].append(m)
    return [(d, c, messages[d.id]) for d, c in rows]


def record_archived(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Record archived copies (a document already recorded is left as it was)."""
    insert_ignore(session, ArchivedDocument, rows)


def archived_copies(session: Session, tenant: str, invoice_id: str,
                    period: str | None = None) -> list[tuple[ArchivedDocument, str]]:
    """A tenant's archived copies of an ERP invoice id, with their periods (newest period first)."""
    stmt = (select(ArchivedDocument, BillingRun.period).join(BillingRun, BillingRun.id == ArchivedDocument.run_id)
            .where(ArchivedDocument.tenant == tenant, ArchivedDocument.invoice_id == invoice_id)
            .order_by(BillingRun.period.desc()))
    if period is not None:
        stmt = stmt.where(BillingRun.period == period)
    return [(a, p) for a, p in session.execute(stmt)]


def archived_in_run(session: Session, run_id: str) -> list[ArchivedDocument]:
    """Every archived copy of a run's documents."""
    return list(session.scalars(select(ArchivedDocument).where(ArchivedDocument.run_id == run_id)
                                .order_by(ArchivedDocument.invoice_id)))
