"""Ledger queries of payments: store them once, find the documents they pay, and what is paid.

A payment and a document meet on the payment reference (OCR, KID, Finnish reference, RF) of the
tenant's runs, compared without spaces and in upper case. A reminder carries the reference of the
invoice it reminds of (the extract has no other link between them), so a paid invoice makes its
reminders paid too. Repositories never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Document, Message, Payment
from omnibill.ledger.repository import chunks, insert_ignore
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.payments import compact_reference

PAID_DECISION = "paid"  # documents.decision of a reminder not sent because its invoice is paid
REACHED = ("sent", "delivered")  # a message that reached its recipient (or the provider took it)


@dataclass(frozen=True)
class PaidFact:
    """What was paid against one reference: the first payment's date, the total and its currency."""

    paid_on: date
    amount: Decimal
    currency: str

    def words(self) -> str:
        """`paid on 2026-11-20 (SEK 1,234.50)`."""
        return f"paid on {self.paid_on.isoformat()} ({self.currency} {self.amount:,.2f})"


def normalised_reference():
    """SQL expression: a document's payment reference without spaces, upper-cased (as payments store it)."""
    return func.upper(func.replace(Document.payment_reference, " ", ""))


def stored_events(session: Session, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (source, event id) pairs among `keys` that are stored already."""
    found: set[tuple[str, str]] = set()
    for part in chunks(sorted(set(keys))):
        stmt = select(Payment.source, Payment.event_id).where(tuple_(Payment.source, Payment.event_id).in_(part))
        found.update((s, e) for s, e in session.execute(stmt))
    return found


def documents_by_reference(session: Session, tenant: str, references: Iterable[str]) -> dict[str, Document]:
    """The document each compacted reference pays among the tenant's runs: an invoice before its reminders,
    the newest period first."""
    kind_rank = case((Document.document_type == "invoice", 0), (Document.document_type == "reminder", 1), else_=2)
    found: dict[str, Document] = {}
    for part in chunks(sorted({r for r in references if r})):
        stmt = (select(normalised_reference(), Document).join(BillingRun, BillingRun.id == Document.run_id)
                .where(BillingRun.tenant == tenant, normalised_reference().in_(part),
                       Document.document_type.not_in(MESSAGE_CATEGORIES))
                .order_by(kind_rank, BillingRun.period.desc(), Document.id))
        for ref, doc in session.execute(stmt):
            found.setdefault(ref, doc)
    return found


def documents_of_messages(session: Session, tenant: str, message_ids: Iterable[str]) -> dict[str, Document]:
    """The document of each of the tenant's messages (a provider that reports a payment by our message id)."""
    found: dict[str, Document] = {}
    for part in chunks(sorted({m for m in message_ids if m})):
        stmt = (select(Message.id, Document).join(Document, Document.id == Message.document_id)
                .join(BillingRun, BillingRun.id == Document.run_id)
                .where(BillingRun.tenant == tenant, Message.id.in_(part)))
        found.update((m, d) for m, d in session.execute(stmt))
    return found


def add_payments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Store payments; one already stored under the same (source, event id) is left as it is."""
    insert_ignore(session, Payment, rows)


def unmatched_references(session: Session, tenant: str) -> list[str]:
    """The compacted references of a tenant's unmatched payments (for matching them again later)."""
    return list(session.scalars(select(Payment.reference).distinct()
                                .where(Payment.tenant == tenant, Payment.status == "unmatched",
                                       Payment.reference != "")))


def mark_matched(session: Session, tenant: str, reference: str, document_id: str) -> int:
    """Unmatched payments of a reference now matched to a document (its extract came after the payment)."""
    stmt = (update(Payment).where(Payment.tenant == tenant, Payment.reference == reference,
                                  Payment.status == "unmatched")
            .values(status="matched", document_id=document_id, reason=None))
    return session.execute(stmt).rowcount or 0


def paid_references(session: Session, tenant: str, references: Iterable[str]) -> dict[str, PaidFact]:
    """For each compacted reference paid at all: when first, how much in total (payments of any status)."""
    found: dict[str, PaidFact] = {}
    for part in chunks(sorted({compact_reference(r) for r in references if r})):
        stmt = (select(Payment.reference, func.min(Payment.paid_on), func.sum(Payment.amount),
                       func.min(Payment.currency))
                .where(Payment.tenant == tenant, Payment.reference.in_(part)).group_by(Payment.reference))
        for ref, paid_on, amount, currency in session.execute(stmt):
            found[ref] = PaidFact(_as_date(paid_on), Decimal(amount or 0), currency or "")
    return found


def payments_of_tenant(session: Session, tenant: str, status: str | None = None) -> list[Payment]:
    """A tenant's payments (matched, unmatched or all), oldest first."""
    stmt = select(Payment).where(Payment.tenant == tenant)
    if status:
        stmt = stmt.where(Payment.status == status)
    return list(session.scalars(stmt.order_by(Payment.paid_on, Payment.id)))


def paid_tallies(session: Session, run: BillingRun) -> list[tuple[str, str, int, Decimal, Decimal]]:
    """(channel, currency, documents paid, amount invoiced of them, amount paid) of a run's billing documents
    whose primary message reached the recipient in that channel."""
    paid = (select(Payment.reference.label("reference"), func.sum(Payment.amount).label("amount"))
            .where(Payment.tenant == run.tenant).group_by(Payment.reference).subquery())
    stmt = (select(Message.channel, Document.currency, func.count(func.distinct(Document.id)),
                   func.sum(Document.total_incl_vat), func.sum(paid.c.amount))
            .join(Document, Document.id == Message.document_id)
            .join(paid, paid.c.reference == normalised_reference())
            .where(Message.run_id == run.id, Message.kind == "primary", Message.state.in_(REACHED),
                   Document.document_type.not_in(MESSAGE_CATEGORIES))
            .group_by(Message.channel, Document.currency))
    return [(c, cur, n, Decimal(inv or 0), Decimal(amt or 0)) for c, cur, n, inv, amt in session.execute(stmt)]


def reached_documents(session: Session, run_id: str) -> dict[str, int]:
    """Billing documents per channel whose primary message reached the recipient (sent or delivered)."""
    stmt = (select(Message.channel, func.count(func.distinct(Message.document_id)))
            .join(Document, Document.id == Message.document_id)
            .where(Message.run_id == run_id, Message.kind == "primary", Message.state.in_(REACHED),
                   Document.document_type.not_in(MESSAGE_CATEGORIES))
            .group_by(Message.channel))
    return dict(session.execute(stmt).all())


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
