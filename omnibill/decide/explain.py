"""Why did a customer's documents go where they went? The decisions of a run, in plain words, masked."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from omnibill.decide.texts import CHANNEL_WORDS, describe_steps
from omnibill.ledger.models import BillingRun, Document, Message
from omnibill.ledger.payments import PaidFact, paid_references
from omnibill.ledger.reports import (customer_in_run, documents_of_customer, messages_of_documents,
                                     quarantined_of_customer)
from omnibill.payments import compact_reference
from omnibill.privacy import mask_email, mask_tail, scrub


# How each kind of message reads in the explanation ("primary" ones: "message", or "fallback" after a failure).
KIND_WORDS = {"companion": "notice", "print_if_unread": "letter because unread"}


def explain_customer(session: Session, run: BillingRun, customer_id: str) -> dict[str, Any]:
    """One customer's documents in a run: the channel chosen, the rules that fired and every message."""
    customer = customer_in_run(session, run.id, customer_id)
    docs = documents_of_customer(session, run.id, customer_id)
    messages = messages_of_documents(session, [d.id for d in docs])
    held = quarantined_of_customer(session, run.id, customer_id)
    paid = paid_references(session, run.tenant, [d.payment_reference for d in docs if d.payment_reference])
    return {"tenant": run.tenant, "period": run.period, "customer_id": customer_id, "known": customer is not None,
            "contact": _masked_contact(customer.data if customer else {}) if customer else {},
            "documents": [_document(d, messages.get(d.id, []), paid.get(compact_reference(d.payment_reference or "")))
                          for d in docs],
            "quarantined": [{"table": q.table_name, "record": q.record_key, "where": f"{q.file} row {q.row_number}",
                             "field": q.field, "reason": scrub(q.reason)} for q in held]}


def _document(doc: Document, messages: list[Message], paid: PaidFact | None = None) -> dict[str, Any]:
    steps = json.loads(doc.decision_rules) if doc.decision_rules else []
    return {"document_id": doc.invoice_id, "document_type": doc.document_type,
            "paid": {"paid_on": paid.paid_on.isoformat(), "amount": str(paid.amount), "currency": paid.currency,
                     "in_words": paid.words()} if paid else None,
            "decision": doc.decision, "reason": scrub(doc.decision_reason or "not decided yet"),
            "rules": [{k: scrub(str(v)) for k, v in s.items()} for s in steps],
            "rules_in_words": [scrub(line) for line in describe_steps(steps)],
            "messages": [{"channel": m.channel, "kind": m.kind, "state": m.state, "permanent": m.permanent,
                          "not_before": m.not_before.isoformat() if m.not_before else None,
                          "opened_at": m.opened_at.isoformat() if m.opened_at else None,
                          "reason": scrub(m.reason), "fallback_of": m.fallback_of} for m in messages]}


def _masked_contact(data: dict[str, Any]) -> dict[str, str]:
    """What contact data the customer has, never in clear."""
    return {"customer_type": data.get("customer_type") or "", "country": data.get("country") or "",
            "email": mask_email(data.get("email")), "mobile": mask_tail(data.get("mobile")),
            "national_id": mask_tail(data.get("national_id")), "peppol_id": mask_tail(data.get("peppol_id")),
            "digital_mailbox": data.get("digital_mailbox") or "",
            "postal_address": "complete" if all(data.get(k) for k in ("street", "postal_code", "city"))
            else "incomplete"}


def render_text(explained: dict[str, Any]) -> str:
    """The explanation as plain text for the terminal."""
    c = explained["contact"]
    if not explained.get("known", True):
        lines = [f"Customer {explained['customer_id']} is not among the valid customers of "
                 f"{explained['tenant']} {explained['period']}"]
    else:
        lines = [f"Customer {explained['customer_id']} ({c.get('customer_type') or '?'}, {c.get('country') or '?'}) "
                 f"in {explained['tenant']} {explained['period']}",
                 "  contact: " + ", ".join(f"{k} {v}" for k, v in c.items()
                                           if v and k not in ("customer_type", "country"))]
    held = explained.get("quarantined", [])
    for q in (q for q in held if q["table"] in ("customers", "invoices", "messages")):
        lines.append(f"  quarantined {q['table']} row {q['record'] or ''} ({q['where']}"
                     f"{', field ' + q['field'] if q['field'] else ''}): {q['reason']}")
    others = Counter(q["table"] for q in held if q["table"] not in ("customers", "invoices", "messages"))
    if others:
        lines.append("  also quarantined: " + ", ".join(f"{n} {t} rows" for t, n in sorted(others.items()))
                     + " (see --json)")
    if not explained["documents"] and not explained.get("quarantined"):
        lines.append("  no documents for this customer in this run")
    for d in explained["documents"]:
        chosen = CHANNEL_WORDS.get(d["decision"] or "", "no channel") if d["decision"] not in ("none", "paid") \
            else "not sent" if d["decision"] == "paid" else "no channel"
        lines += ["", f"{d['document_type']} {d['document_id']}: {chosen}", f"  why: {d['reason']}"]
        if d.get("paid"):
            lines.append(f"  {d['paid']['in_words']}")
        lines += [f"  - {line}" for line in d["rules_in_words"]]
        for m in d["messages"]:
            kind = KIND_WORDS.get(m["kind"]) or ("fallback" if m["fallback_of"] else "message")
            when = f" (not before {m['not_before']})" if m["not_before"] else ""
            when += f", opened {m['opened_at'][:10]}" if m.get("opened_at") else ""
            lines.append(f"  {kind} by {CHANNEL_WORDS.get(m['channel'], m['channel'])}: {m['state']}{when}"
                         f" — {m['reason']}")
    return "\n".join(lines)
