"""A run's documents by outcome, counted by the database (SQLite and PostgreSQL): each document once, by its best
primary message."""

from __future__ import annotations

from sqlalchemy import select, update

from omnibill.ledger.models import Document, Message
from omnibill.ledger.reports import document_outcomes
from tests.integration.test_dispatch_ledger import _prepare, ledger  # noqa: F401  (fixture)

# invoice: (state, permanent) of its primary message, then of a second primary planned after the first failed
STATES = {
    "INV-0": [("delivered", False)], "INV-1": [("sent", False)], "INV-2": [("sending", False)],
    "INV-3": [("scheduled", False)], "INV-4": [("rendered", False)], "INV-5": [("failed", False)],
    "INV-6": [("failed", True)], "INV-7": [("failed", True), ("failed", False)],
    "INV-8": [("failed", True), ("planned", False)], "INV-9": [("cancelled", False)],
}


def test_each_document_counts_once_by_its_best_primary_message(ledger):
    run = _prepare(ledger, len(STATES))
    with ledger.transaction() as s:
        for message, invoice in s.execute(select(Message, Document.invoice_id)
                                          .join(Document, Document.id == Message.document_id)):
            (state, permanent), *later = STATES[invoice]
            s.execute(update(Message).where(Message.id == message.id).values(state=state, permanent=permanent))
            for n, (state, permanent) in enumerate(later, start=1):
                s.add(Message(id=f"{message.id[:28]}-{n}", run_id=run.id, document_id=message.document_id,
                              channel="print", batch_no=message.batch_no, state=state, permanent=permanent,
                              kind="primary"))
    with ledger.read() as s:
        assert document_outcomes(s, run.id) == {"delivered": 1, "sent": 1, "scheduled": 1, "pending": 4,
                                                "failed_transient": 2, "failed_permanent": 1}
        assert document_outcomes(s, run.id, billing=False) == dict.fromkeys(
            ("delivered", "sent", "scheduled", "pending", "failed_transient", "failed_permanent"), 0)
