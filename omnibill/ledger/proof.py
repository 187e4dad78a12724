"""What the proof of a run is built from: the documents about to be sent, the mix, last period's run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Customer, Document, Message

class DocumentSummary(NamedTuple):
    """What the proof's sample needs of a document: its amount, its type, its number of lines."""

    id: str
    invoice_id: str
    document_type: str
    total_incl_vat: Any
    line_count: int


class CustomerSummary(NamedTuple):
    """What the proof's sample needs of a customer: `{"language": …, "country": …}`."""

    data: dict[str, str]


class MessageSummary(NamedTuple):
    channel: str


def proof_candidates(session: Session, run_id: str
                     ) -> Iterator[tuple[DocumentSummary, CustomerSummary, MessageSummary]]:
    """Each document's first primary message (about to go out, or gone out in a run released automatically),
    with the document and its customer, summarised, in invoice id order: read in chunks as they are consumed
    (the session stays open meanwhile), so a large run's documents are never all in memory at once."""
    stmt = (select(Document.id, Document.invoice_id, Document.document_type, Document.total_incl_vat,
                   Document.data, Customer.data, Message.channel)
            .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
            .join(Message, Message.document_id == Document.id)
            .where(Document.run_id == run_id, Message.kind == "primary", Message.fallback_of.is_(None))
            .order_by(Document.invoice_id)
            .execution_options(yield_per=2000))
    for doc_id, invoice_id, kind, total, data, customer, channel in session.execute(stmt):
        yield (DocumentSummary(doc_id, invoice_id, kind, total, len((data or {}).get("lines", []))),
               CustomerSummary({"language": (customer or {}).get("language", ""),
                                "country": (customer or {}).get("country", "")}),
               MessageSummary(channel))


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
