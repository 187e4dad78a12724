"""Reminders of paid invoices are not sent: they are decided `paid`, with the payment in words.

A reminder refers to its invoice by the payment reference: the ERP extract has no other link between
them (see the extract contract), and a reminder asks the customer to pay the original reference. When
a payment with that reference is in the ledger (camt.054 import or a provider's payment event), the
reminder gets the decision `paid` and no message; the reconciliation counts it on a line of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from omnibill.ledger.decisions import write_decisions
from omnibill.ledger.models import Document
from omnibill.ledger.payments import PAID_DECISION, paid_references
from omnibill.payments import compact_reference

PAID = PAID_DECISION


def paid_reminders(session: Session, tenant: str, docs: Sequence[Document], now: datetime) -> set[str]:
    """Decide the reminders among `docs` whose reference is paid as `paid`; returns their document ids."""
    reminders = [d for d in docs if d.document_type == "reminder" and d.payment_reference]
    if not reminders:
        return set()
    paid = paid_references(session, tenant, [d.payment_reference for d in reminders])
    decided = [{"id": d.id, "decision": PAID, "decided_at": now, "decision_rules": None,
                "decision_reason": f"reminder not sent: the invoice was {fact.words()}"}
               for d in reminders if (fact := paid.get(compact_reference(d.payment_reference)))]
    write_decisions(session, decided)
    return {row["id"] for row in decided}
