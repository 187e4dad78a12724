"""Dispatch stage: hand a channel's batch to its adapter, recording every attempt and outcome."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from channel_adapters.base import Attachment, ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from omnibill.decide.reachability import normalise_email, normalise_mobile
from omnibill.ledger.codec import party_from_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun, Message
from omnibill.ledger.repository import (DISPATCHABLE_STATES, documents_with_customers, finish_attempts,
                                        messages_in, set_states, start_attempts)
from omnibill.model import Party
from omnibill.privacy import scrub
from omnibill.store import ObjectStore



class BatchHadTransientFailures(TransientError):
    """Some messages of the batch failed transiently; retrying the batch sends only those."""


def dispatch_batch(ledger: Ledger, run: BillingRun, channel: str, batch_no: int, adapter: ChannelAdapter,
                   store: ObjectStore) -> Counter:
    """Send every not-yet-sent message of one channel's batch; raise when some failed transiently."""
    with ledger.transaction() as session:
        pending = messages_in(session, run.id, states=DISPATCHABLE_STATES, batch_no=batch_no, channel=channel)
        docs = documents_with_customers(session, {m.document_id for m in pending})
    outcome: Counter = Counter()
    for start in range(0, len(pending), adapter.max_batch):
        chunk = pending[start:start + adapter.max_batch]
        outcome.update(_send_chunk(ledger, run, chunk, docs, adapter, store))
    if outcome["transient"]:
        raise BatchHadTransientFailures(
            f"{channel} batch {batch_no}: {outcome['transient']} of {len(pending)} messages failed transiently")
    return outcome


def _send_chunk(ledger, run, chunk: Sequence[Message], docs, adapter, store) -> Counter:
    # The 'sending' mark is committed before the provider is called: a crash in between leaves
    # a trace, and the resend carries the same idempotency key, which the provider recognises.
    with ledger.transaction() as session:
        attempts = start_attempts(session, chunk)
        set_states(session, [{"id": m.id, "from_state": m.state, "state": "sending", "attempts": m.attempts + 1,
                              "reason": f"attempt {m.attempts + 1}"} for m in chunk])
    outbound = [to_outbound(run, m, *docs[m.document_id], store) for m in chunk]
    try:
        results = adapter.send_batch(outbound)
    except TransientError as exc:
        results = [DispatchResult(m.id, "failed", error=f"provider unavailable: {exc}") for m in chunk]
    with ledger.transaction() as session:
        return _record(session, chunk, results, attempts)


def _record(session, chunk: Sequence[Message], results: Sequence[DispatchResult], attempts: dict[str, int]) -> Counter:
    by_id = {r.message_id: r for r in results}
    counts: Counter = Counter()
    changes, closed = [], []
    for m in chunk:
        r = by_id.get(m.id) or DispatchResult(m.id, "failed", error="adapter returned no result")
        reason = scrub(r.error) if r.error else "accepted by provider"
        kind = "sent" if r.status == "sent" else ("permanent" if r.permanent else "transient")
        counts[kind] += 1
        changes.append({"id": m.id, "from_state": "sending", "state": "sent" if kind == "sent" else "failed",
                        "permanent": kind == "permanent", "reason": reason, "provider_ref": r.provider_ref})
        closed.append({"message_id": m.id, "attempt_no": attempts[m.id], "outcome": kind,
                       "error": reason if r.error else None, "permanent": kind == "permanent"})
    set_states(session, changes)
    finish_attempts(session, closed)
    return counts


def to_outbound(run: BillingRun, message: Message, document, customer, store: ObjectStore) -> OutboundMessage:
    """What the adapter sends for one message: recipient, bodies and attachments from the store."""
    party = party_from_json(customer.data)
    content: dict[str, str] = message.content or {}
    text = lambda name: store.get(content[name]).decode() if name in content else ""  # noqa: E731
    attachments = []
    if "pdf" in content:
        attachments.append(Attachment(f"{document.invoice_id}.pdf", "application/pdf", store.get(content["pdf"])))
    if "ubl" in content:
        attachments.append(Attachment(f"{document.invoice_id}.xml", "application/xml", store.get(content["ubl"])))
    return OutboundMessage(
        message_id=message.id, channel=message.channel, document_id=document.id, invoice_id=document.invoice_id,
        recipient=_RECIPIENT[message.channel](party), subject=text("subject"),
        body_text=text("sms") or text("text"), body_html=text("html") or None, attachments=tuple(attachments),
        metadata=_metadata(run, party) | (json.loads(text("headers")) if "headers" in content else {}))


def _metadata(run: BillingRun, party: Party) -> dict[str, str]:
    meta = {"drop_prefix": f"{run.tenant}/{run.period}", "mailbox_provider": (party.digital_mailbox or "").lower(),
            "language": party.language}
    for key in ("name", "care_of", "street", "postal_code", "city", "country"):
        meta[key] = getattr(party, key) or ""
    return meta


_RECIPIENT: dict[str, Callable[[Party], Any]] = {
    "email": lambda p: normalise_email(p.email) or "",
    "sms": lambda p: normalise_mobile(p.mobile, p.country) or "",
    "mailbox": lambda p: p.national_id or "",
    "einvoice": lambda p: p.peppol_id or p.einvoice_address or "",  # PEPPOL, or a Finvoice address
    "print": lambda p: p.name,
    "push": lambda p: p.customer_id,
}
