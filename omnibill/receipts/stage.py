"""Receipts stage: what providers report back (delivery, bounces, reads) applied to the ledger.

Polled here; the same events pushed by providers arrive at the webhook endpoint (omnibill/portal)
and go through the same `take_events`, so an event seen both ways is applied once. A provider's event feed
is read on from where the tenant's last poll stopped (`feed_positions` in the ledger), not from its start.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from sqlalchemy.orm import Session

from channel_adapters.base import ChannelAdapter, PaymentEvent, ReceiptEvent
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.repository import chunks
from omnibill.ledger.events import awaiting_reports, feed_positions, save_feed_positions, tenants_of_messages
from omnibill.receipts.apply import apply_pending, take_events
from omnibill.receipts.payments import record_payments

EVENTS_PER_TRANSACTION = 2000  # events kept and applied per ledger transaction


def run_receipts(ledger: Ledger, run: BillingRun, adapter: ChannelAdapter,
                 log: logging.Logger | logging.LoggerAdapter | None = None) -> int:
    """The receipts stage for one channel: the providers' reports since the last call, then every event
    that waited for its message to be recorded as sent. Returns how many messages changed; logs, per provider,
    how many events were read and how long reading and keeping them took."""
    counts: Counter = Counter()
    with ledger.read() as session:
        if adapter.asks_each_message:  # sent by earlier processes too; other providers report on their own
            adapter.awaiting(awaiting_reports(session, run.id, adapter.channel))
        adapter.resume_feeds(feed_positions(session, run.tenant))  # event feeds: only what came since
    started = time.perf_counter()
    by_provider = adapter.receipts_by_provider()
    read_seconds = getattr(adapter, "read_seconds", {}) or {p: time.perf_counter() - started for p in by_provider}
    read_to = adapter.feed_positions()
    for provider, events in by_provider.items():
        started = time.perf_counter()
        receipts = [e for e in events if isinstance(e, ReceiptEvent)]
        payments = [e for e in events if isinstance(e, PaymentEvent)]
        parts = list(chunks(receipts, EVENTS_PER_TRANSACTION)) or [[]]
        for n, part in enumerate(parts, 1):
            # Short transactions, so other writers (dispatch, archive) get the ledger between them. How far the
            # feed was read is saved with the last: a crash before it reads the feed again, and the events
            # already kept are recognised by their ids.
            with ledger.transaction() as session:
                counts.update(take_events(session, provider, part))
                if n == len(parts) and payments:
                    counts.update(take_payments(session, payments, run.tenant))
                if n == len(parts) and provider in read_to:
                    save_feed_positions(session, run.tenant, {provider: read_to[provider]})
        if log and events:
            log.info("receipts[%s] %s: %d events read in %.1f s, kept in %.1f s", adapter.channel, provider,
                     len(events), read_seconds.get(provider, 0.0), time.perf_counter() - started)
    adapter.receipts_kept()  # every event read is in the ledger now
    with ledger.transaction() as session:
        counts.update(apply_pending(session))
    return sum(counts[k] for k in ("delivered", "opened", "failed", "bounced"))


def take_payments(session: Session, payments: list[PaymentEvent], tenant: str | None = None) -> Counter:
    """Payments a provider reported (Kivra), matched to documents by payment reference within the tenant
    of the message they name (or `tenant` when they name none)."""
    tenants = tenants_of_messages(session, [p.message_id for p in payments if p.message_id])
    by_tenant: dict[str, list[PaymentEvent]] = {}
    for p in payments:
        by_tenant.setdefault(tenants.get(p.message_id or "", tenant or ""), []).append(p)
    counts: Counter = Counter()
    for owner, theirs in by_tenant.items():
        counts.update(record_payments(session, owner, theirs))
    return counts
