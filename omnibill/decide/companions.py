"""Companion notices: released once their document was sent in its primary channel, cancelled if it never can be."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from config.tenant import TenantRules
from omnibill.ledger.decisions import SENT, held_companions
from omnibill.decide.texts import notice
from omnibill.quiet_hours import scheduled_reason, zone_of, quiet_until
from omnibill.ledger.codec import party_from_json
from omnibill.ledger.models import BillingRun
from omnibill.ledger.repository import documents_with_customers, set_states


def release(session: Session, run: BillingRun, rules: TenantRules, now: datetime, store) -> int:
    """Store the notice text of companions whose primary was sent and mark them ready to send; returns how many."""
    released, after = 0, ""
    while after is not None:
        count, after = release_some(session, run, rules, now, store, after)
        released += count
    return released


def release_some(session: Session, run: BillingRun, rules: TenantRules, now: datetime, store, after: str = "",
                 limit: int = 1000) -> tuple[int, str | None]:
    """`release` for at most `limit` held companions, those after the id `after`: how many were released, and the
    id to go on after (None when none are left)."""
    held = held_companions(session, run.id, after, limit)
    if not held:
        return 0, None
    found = documents_with_customers(session, {m.document_id for m, _ in held})
    changes, released = [], 0
    for message, primaries in held:
        doc, customer = found[message.document_id]
        after = set(rules.categories[doc.document_type].companion.after) \
            if rules.categories[doc.document_type].companion else set()
        pointed = [m for m in primaries if m.channel in after]
        sent_in = next((m.channel for m in pointed if m.state in SENT), "")
        if sent_in:
            content = _store_notice(store, run, doc, party_from_json(customer.data), message.channel, sent_in, rules)
            change = {"id": message.id, "from_state": "held", "state": "rendered", "content": content,
                      "reason": (message.reason or "") + f"; released after the {sent_in} message was sent"}
            changes.append(change | _quiet(rules, doc.document_type, message.channel, customer.data, now))
            released += 1
        elif all(m.state == "failed" and m.permanent for m in pointed):
            changes.append({"id": message.id, "from_state": "held", "state": "cancelled",
                            "reason": "cancelled: the document did not reach a channel this notice points to"})
    set_states(session, changes)
    return released, held[-1][0].id


def _store_notice(store, run: BillingRun, doc, party, channel: str, primary: str, rules: TenantRules) -> dict:
    text, subject = notice(party.language, rules.to_sender(party.country).name, doc.invoice_id, primary)
    prefix = f"{run.tenant}/{run.period}/{doc.id}/notice-{channel}"
    if channel == "sms":
        return {"sms": store.put(f"{prefix}.txt", text.encode(), "text/plain; charset=utf-8")}
    return {"subject": store.put(f"{prefix}-subject.txt", subject.encode(), "text/plain; charset=utf-8"),
            "text": store.put(f"{prefix}.txt", text.encode(), "text/plain; charset=utf-8")}


def _quiet(rules: TenantRules, category: str, channel: str, customer: dict, now: datetime) -> dict:
    """Scheduled instead of ready when the notice would go out in the customer's quiet hours."""
    country = customer.get("country", "")
    until = quiet_until(rules, category, channel, country, now)
    if until is None:
        return {}
    return {"state": "scheduled", "not_before": until, "reason": scheduled_reason(until, zone_of(rules, country))}
