"""What the proof of a run is built from: the documents about to be sent, the mix, last period's run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Customer, Document, Message

def proof_candidates(session: Session, run_id: str) -> list[tuple[Document, Customer, Message]]:
    """Each document's first primary message (about to go out, or gone out in a run released automatically),
    with the document and its customer."""
    stmt = (select(Document, Customer, Message)
            .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
            .join(Message, Message.document_id == Document.id)
            .where(Document.run_id == run_id, Message.kind == "primary", Message.fallback_of.is_(None))
            .order_by(Document.invoice_id))
    return [(d, c, m) for d, c, m in session.execute(stmt)]


def mix(session: Session, run_id: str) -> list[tuple[str, str, str, int, Any]]:
    """(channel, document type, currency, documents, total incl. VAT) of a run's primary messages."""
    stmt = (select(Message.channel, Document.document_type, Document.currency, func.count(),
                   func.sum(Document.total_incl_vat))
            .join(Document, Document.id == Message.document_id)
            .where(Message.run_id == run_id, Message.kind == "primary", Message.fallback_of.is_(None))
            .group_by(Message.channel, Document.document_type, Document.currency))
    return [tuple(row) for row in session.execute(stmt)]


def previous_run(session: Session, tenant: str, period: str) -> BillingRun | None:
    """The tenant's run of the latest period before this one."""
    return session.scalars(select(BillingRun).where(BillingRun.tenant == tenant, BillingRun.period < period)
                           .order_by(BillingRun.period.desc()).limit(1)).first()
