"""Dispatch stage: claim a channel's batch chunk by chunk, hand it to the adapter, record every attempt.

Never twice: a message is sent only by the dispatcher that won its claim (one conditional change to
`sending`, committed before the provider is called). A claim left behind by a dispatcher that died
lapses after its lease; the resend carries the same idempotency key.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from channel_adapters.base import Attachment, ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from config.tenant import TenantRules
from omnibill.decide.reachability import normalise_email, normalise_mobile
from omnibill.ledger.codec import party_from_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun, Message
from omnibill.ledger.reports import failed_transient
from omnibill.ledger.repository import (DISPATCHABLE_STATES, batch_numbers, channel_batches, claim_messages,
                                        documents_with_customers, finish_attempts, set_states, start_attempts)
from omnibill.model import Party
from omnibill.privacy import scrub
from omnibill.quiet_hours import quiet_until, scheduled_reason, zone_of
from omnibill.store import ObjectStore

DEFAULT_LEASE_S = 300.0
RECORD_EVERY = 50  # outcomes written together, at most, for providers that recognise a resend
RECORD_AFTER_S = 0.25  # ... or after this long


class BatchHadTransientFailures(TransientError):
    """Some messages of the batch failed transiently; retrying the batch sends only those."""


def new_claimant() -> str:
    """A name for one dispatcher: host, process and a random part (two calls in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_dispatch(ledger: Ledger, run: BillingRun, channel: str, batch_no: int, adapter: ChannelAdapter,
                 store: ObjectStore, *, rules: TenantRules | None = None, now: datetime | None = None,
                 claimant: str | None = None, lease_s: float = DEFAULT_LEASE_S) -> Counter:
    """The dispatch stage for one channel's batch: send what this dispatcher claims; raise on transient failures.

    Messages claimed by another live dispatcher are left to it. With `rules`, a message that would go
    out in the customer's quiet hours (at `now`, default the real clock read chunk by chunk) is scheduled
    instead of sent.
    """
    claimant = claimant or new_claimant()
    started = datetime.now(timezone.utc)  # a message this call already tried is not claimed again by it
    outcome: Counter = Counter()
    while True:
        claimed, docs = _claim(ledger, run, channel, batch_no, adapter.max_batch, claimant, lease_s, started)
        if not claimed:
            break
        held = _quiet(claimed, docs, rules, now or datetime.now(timezone.utc))
        if held:
            with ledger.transaction() as session:
                outcome["scheduled"] += len(set_states(session, [c | {"claimant": claimant} for c in held]))
        outcome["claimed"] += len(claimed)
        ready = [m for m in claimed if m.id not in {c["id"] for c in held}]
        if ready:
            try:
                outcome.update(_send_chunk(ledger, run, ready, docs, adapter, store, claimant, rules))
            except Exception as exc:
                # Not a provider's answer (a store read, a bug, an unwrapped client error): give the chunk
                # back at once rather than leave it claimed until the lease lapses, then let the task fail.
                _give_back(ledger, ready, claimant, exc)
                raise
    claimed = outcome.pop("claimed", 0)
    if outcome["transient"]:
        raise BatchHadTransientFailures(
            f"{channel} batch {batch_no}: {outcome['transient']} of {claimed} messages failed transiently")
    return outcome


def batches_to_send(ledger: Ledger, run: BillingRun, channel: str | None = None,
                    batch: int | None = None) -> list[tuple[str, int]]:
    """(channel, batch) pairs with messages to send: rendered, failed transiently or still in flight."""
    with ledger.read() as session:
        return channel_batches(session, run.id, DISPATCHABLE_STATES, channel=channel, batch_no=batch)


def still_failing(ledger: Ledger, run: BillingRun, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """How many messages of each (channel, batch) are still failed transiently or pending."""
    with ledger.read() as session:
        return {pair: failed_transient(session, run.id, *pair) for pair in pairs}


def batch_count(ledger: Ledger, run: BillingRun) -> int:
    """How many batches the run has (for task names like `dispatch[sms] batch 3/40`)."""
    with ledger.read() as session:
        return len(batch_numbers(session, run.id))


def _claim(ledger, run, channel, batch_no, limit, claimant, lease_s, started):
    with ledger.transaction() as session:
        now = datetime.now(timezone.utc)
        claimed = claim_messages(session, run.id, channel, batch_no, claimant, now=now,
                                 lease_until=now + timedelta(seconds=lease_s), limit=limit, touched_before=started)
        docs = documents_with_customers(session, {m.document_id for m in claimed}) if claimed else {}
    return claimed, docs


def _quiet(claimed: Sequence[Message], docs, rules: TenantRules | None, now: datetime) -> list[dict[str, Any]]:
    """Claimed messages that must wait for the end of the customer's quiet hours: their change to `scheduled`."""
    if rules is None:
        return []
    held, known = [], {}
    for m in claimed:
        doc, customer = docs[m.document_id]
        country = (customer.data or {}).get("country", "")
        key = (doc.document_type, m.channel, country)  # the same answer for a whole chunk of such messages
        if key not in known:
            until = quiet_until(rules, *key, now)
            known[key] = (until, until and scheduled_reason(until, zone_of(rules, country)) + " (checked at sending)")
        until, reason = known[key]
        if until is not None:
            held.append({"id": m.id, "from_state": "sending", "state": "scheduled", "not_before": until,
                         "claimed_by": None, "lease_until": None, "attempts": m.attempts, "reason": reason})
    return held


def _send_chunk(ledger, run, chunk: Sequence[Message], docs, adapter, store, claimant: str,
                rules: TenantRules | None = None) -> Counter:
    # The claim (`sending`) was committed before the provider is called: a crash in between leaves a
    # lease that lapses, and the resend carries the same idempotency key, which the provider recognises.
    # Each outcome is written as soon as the provider answered (a few together for providers that
    # recognise a resend; for those that do not, such as SMTP, before another message goes out: the answers
    # that arrived together, together), so a crash repeats at most what was in flight.
    outbound = [to_outbound(run, m, *docs[m.document_id], store, rules) for m in chunk]
    too_long = _over_length(outbound, adapter.body_maxlen)
    with ledger.transaction() as session:
        attempts = start_attempts(session, chunk)
    by_id = {m.id: m for m in chunk}
    counts: Counter = Counter()
    pending = [DispatchResult(i, "failed", error=why, permanent=True) for i, why in too_long.items()]
    to_send = [o for o in outbound if o.message_id not in too_long]
    answered: set[str] = set()
    flushed = time.monotonic()

    def flush() -> None:
        nonlocal pending, flushed
        if pending:
            with ledger.transaction() as session:
                counts.update(_record(session, [by_id[r.message_id] for r in pending], pending, attempts, claimant))
        pending, flushed = [], time.monotonic()

    try:
        for result in (adapter.send(to_send) if to_send else ()):
            fresh = result.message_id in by_id and result.message_id not in answered  # else not ours, or said
            if fresh:                                                              # twice: the first counts
                answered.add(result.message_id)
                pending.append(result)
            if adapter.deduplicates:
                due = fresh and (len(pending) >= RECORD_EVERY or time.monotonic() - flushed >= RECORD_AFTER_S)
            else:
                due = not result.more_ready
            if due:
                flush()
    except TransientError as exc:
        pending += [DispatchResult(o.message_id, "failed", error=f"provider unavailable: {exc}")
                    for o in to_send if o.message_id not in answered]
        answered.update(o.message_id for o in to_send)
    except BaseException:
        flush()  # what the provider answered before the error is written: a resend would repeat it
        raise
    pending += [DispatchResult(o.message_id, "failed", error="adapter returned no result")
                for o in to_send if o.message_id not in answered]
    flush()
    return counts


def _give_back(ledger: Ledger, chunk: Sequence[Message], claimant: str, exc: Exception) -> None:
    """The claimed chunk back to `failed` (transient), its attempts closed; only what is still ours."""
    reason = scrub(f"dispatch error: {type(exc).__name__}: {exc}")[:500]
    with ledger.transaction() as session:
        set_states(session, [{"id": m.id, "from_state": "sending", "claimant": claimant, "state": "failed",
                              "permanent": False, "lease_until": None, "reason": reason} for m in chunk])
        finish_attempts(session, [{"message_id": m.id, "attempt_no": m.attempts + 1, "outcome": "transient",
                                   "error": reason, "permanent": False} for m in chunk])


def _over_length(outbound: Sequence[OutboundMessage], maxlen: int | None) -> dict[str, str]:
    """Messages whose text the channel cannot carry (the adapter's `body_maxlen`), with the reason."""
    if not maxlen:
        return {}
    return {o.message_id: f"message text is {len(o.body_text)} characters; the {o.channel} provider takes "
                          f"at most {maxlen}" for o in outbound if len(o.body_text) > maxlen}


def _record(session, chunk: Sequence[Message], results: Sequence[DispatchResult], attempts: dict[str, int],
            claimant: str) -> Counter:
    by_id = {r.message_id: r for r in results}
    counts: Counter = Counter()
    changes, closed, kinds = [], [], []
    for m in chunk:
        r = by_id.get(m.id) or DispatchResult(m.id, "failed", error="adapter returned no result")
        reason = scrub(r.error) if r.error else "accepted by provider"
        kind = "sent" if r.status == "sent" else ("permanent" if r.permanent else "transient")
        counts[kind] += 1
        kinds.append(kind)
        changes.append({"id": m.id, "from_state": "sending", "claimant": claimant,
                        "state": "sent" if kind == "sent" else "failed", "permanent": kind == "permanent",
                        "reason": reason, "provider_ref": r.provider_ref, "lease_until": None}
                       | ({"cost": r.cost} if r.cost is not None else {}))
        closed.append({"message_id": m.id, "attempt_no": attempts[m.id], "outcome": kind,
                       "error": reason if r.error else None, "permanent": kind == "permanent"})
    recorded = set(set_states(session, changes))
    finish_attempts(session, closed)
    if len(recorded) < len(changes):
        # Our claim lapsed and another dispatcher took these over: its outcome is the one that counts.
        counts = Counter(kind for c, kind in zip(changes, kinds) if c["id"] in recorded)
        counts["claim_lapsed"] += len(changes) - len(recorded)
    return counts


def to_outbound(run: BillingRun, message: Message, document, customer, store: ObjectStore,
                rules: TenantRules | None = None) -> OutboundMessage:
    """What the adapter sends for one message: recipient, bodies and attachments from the store, and in
    `metadata` what providers ask for beside them (postal address, payment details, sender)."""
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
        metadata=_metadata(run, party, document, rules, message.channel)
        | (json.loads(text("headers")) if "headers" in content else {}))


def _metadata(run: BillingRun, party: Party, document, rules: TenantRules | None, channel: str) -> dict[str, str]:
    meta = {"drop_prefix": f"{run.tenant}/{run.period}", "mailbox_provider": (party.digital_mailbox or "").lower(),
            "language": party.language, "document_type": document.document_type,
            "amount": str(document.total_incl_vat), "currency": document.currency,
            "due_date": document.due_date.isoformat(), "payment_reference": document.payment_reference}
    for key in ("name", "care_of", "street", "postal_code", "city", "country"):
        meta[key] = getattr(party, key) or ""
    if rules is not None:
        sender = rules.to_sender(party.country)
        meta |= {"sender_name": sender.name, "bankgiro": sender.bankgiro or "", "plusgiro": sender.plusgiro or "",
                 "iban": sender.iban or ""}
        unread = rules.print_if_unread
        if unread and document.document_type in unread.categories and channel in unread.channels:
            meta["print_if_unread_days"] = str(unread.days)
    return meta


_RECIPIENT: dict[str, Callable[[Party], Any]] = {
    "email": lambda p: normalise_email(p.email) or "",
    "sms": lambda p: normalise_mobile(p.mobile, p.country) or "",
    "mailbox": lambda p: p.national_id or "",
    "einvoice": lambda p: p.peppol_id or p.einvoice_address or "",  # PEPPOL, or a Finvoice address
    "print": lambda p: p.name,
    "push": lambda p: p.customer_id,
}
