"""Decide stage, ledger side: decisions for a batch, and fallbacks after permanent failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import update
from sqlalchemy.orm import Session

from config.tenant import TenantRules
from omnibill.decide.rules import Decision, choose_channel
from omnibill.ledger.codec import party_from_json
from omnibill.ledger.models import BillingRun, Document, Message
from omnibill.ledger.repository import add_messages, channels_tried, documents_with_customers, undecided_documents
from omnibill.model import message_key


def decide_batch(session: Session, run: BillingRun, batch_no: int, rules: TenantRules) -> Counter:
    """Decide every undecided document of a batch; plan one message per document with a channel."""
    now = datetime.now(timezone.utc)
    decided: Counter = Counter()
    updates, messages = [], []
    for doc, customer in undecided_documents(session, run.id, batch_no):
        decision = choose_channel(party_from_json(customer.data), customer.consents or {},
                                  rules.categories[doc.document_type])
        updates.append({"id": doc.id, "decision": decision.channel or "none",
                        "decision_reason": decision.reason, "decided_at": now})
        decided[decision.channel or "unreachable"] += 1
        if decision.channel:
            messages.append(_message_row(run, doc, decision, rules))
    if updates:
        session.execute(update(Document), updates)
    add_messages(session, messages)
    return decided


def plan_fallbacks(session: Session, run: BillingRun, failed: Sequence[Message], rules: TenantRules) -> int:
    """For messages that failed permanently, plan the next channel of the document's chain."""
    docs = documents_with_customers(session, [m.document_id for m in failed])
    planned = []
    for message in failed:
        doc, customer = docs[message.document_id]
        tried = set(channels_tried(session, doc.id)) | {message.channel}
        decision = choose_channel(party_from_json(customer.data), customer.consents or {},
                                  rules.categories[doc.document_type], exclude=tried)
        if decision.channel is None:
            continue
        row = _message_row(run, doc, decision, rules)
        row["fallback_of"] = message.id
        row["reason"] = f"fallback after {message.channel} failed permanently ({message.reason}); {decision.reason}"
        planned.append(row)
    add_messages(session, planned)
    return len(planned)


def _message_row(run: BillingRun, doc: Document, decision: Decision, rules: TenantRules) -> dict:
    return {"id": message_key(run.tenant, run.period, doc.invoice_id, decision.channel),
            "run_id": run.id, "document_id": doc.id, "channel": decision.channel, "batch_no": doc.batch_no,
            "state": "planned", "reason": decision.reason, "permanent": False, "attempts": 0,
            "cost": rules.cost(decision.channel)}
