"""Payments into the ledger: a bank's camt.054 file or a provider's payment events, matched to documents.

Each payment is stored once per (source, event id): importing the same file again, or a provider
pushing the same event twice, adds nothing. A payment is matched to the document of the tenant's
runs that carries its payment reference (compared without spaces, in upper case; an invoice before
its reminders, which carry the same reference), else through the message id a provider reports it
with. A payment that matches nothing is kept, `unmatched`, with its reason; a later import matches
it when the document has arrived since.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from channel_adapters.base import PaymentEvent
from omnibill.ledger.db import Ledger
from omnibill.ledger.payments import (add_payments, documents_by_reference, documents_of_messages, mark_matched,
                                      stored_events, unmatched_references)
from omnibill.ledger.models import Document
from omnibill.payments import compact_reference
from omnibill.receipts.camt054 import parse_camt054

REFERENCE_MAX = 64  # the ledger column; ISO 20022 references are at most 35 characters


def record_payments(session: Session, tenant: str, events: Sequence[PaymentEvent]) -> Counter:
    """Store a tenant's payments once each; counts `matched`, `unmatched`, `duplicate` (and `rematched`:
    earlier unmatched payments whose document has arrived since)."""
    counts: Counter = Counter(matched=0, unmatched=0, duplicate=0)
    seen = stored_events(session, [(e.source, e.event_id) for e in events])
    by_ref = documents_by_reference(session, tenant, [compact_reference(e.reference) for e in events])
    by_message = documents_of_messages(session, tenant, [e.message_id for e in events if e.message_id])
    rows = []
    for event in events:
        if (event.source, event.event_id) in seen:
            counts["duplicate"] += 1
            continue
        seen.add((event.source, event.event_id))
        reference = compact_reference(event.reference)[:REFERENCE_MAX]
        doc = by_ref.get(reference) or by_message.get(event.message_id or "")
        rows.append(_row(tenant, event, reference, doc))
        counts["matched" if doc else "unmatched"] += 1
    add_payments(session, rows)
    counts["rematched"] = _match_again(session, tenant)
    return counts


def import_camt054(ledger: Ledger, tenant: str, path: Path) -> Counter:
    """Read a camt.054 file and record its payments for a tenant, in one transaction."""
    events = parse_camt054(path)
    with ledger.transaction() as session:
        counts = record_payments(session, tenant, events)
    counts["in_file"] = len(events)
    return counts


def _row(tenant: str, event: PaymentEvent, reference: str, doc: Document | None) -> dict:
    reason = None if doc else unmatched_reason(reference)
    if doc is not None and event.currency and doc.currency and event.currency != doc.currency:
        reason = f"paid in {event.currency}, the document is in {doc.currency}"
    return {"tenant": tenant, "source": event.source, "event_id": event.event_id, "reference": reference,
            "amount": event.amount, "currency": event.currency[:3], "paid_on": event.paid_on,
            "status": "matched" if doc else "unmatched", "reason": reason,
            "document_id": doc.id if doc else None, "message_id": event.message_id}


def unmatched_reason(reference: str) -> str:
    """Why a payment matched no document, in words."""
    if not reference:
        return "no structured creditor reference (OCR, KID, RF) in the payment"
    return "no document of this tenant has this payment reference"


def _match_again(session: Session, tenant: str) -> int:
    """Unmatched payments of the tenant whose reference a document carries by now."""
    waiting = unmatched_references(session, tenant)
    found = documents_by_reference(session, tenant, waiting)
    return sum(mark_matched(session, tenant, ref, doc.id) for ref, doc in found.items())
