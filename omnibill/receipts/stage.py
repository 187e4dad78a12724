"""Receipts stage: delivery reports from providers move messages to delivered or failed; reads mark them opened."""

from __future__ import annotations

from datetime import datetime, timezone

from channel_adapters.base import ChannelAdapter, ReceiptEvent
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.portal import mark_opened_by_ids
from omnibill.ledger.repository import add_receipts, messages_by_ids, set_states
from omnibill.privacy import scrub


def run_receipts(ledger: Ledger, run: BillingRun, adapter: ChannelAdapter) -> int:
    """The receipts stage for one channel: the provider's reports applied to this run's messages.

    Delivery reports move `sent` messages on; read status (a mailbox provider's "read") records when
    the recipient opened the document, as an open in the portal does. Returns how many changed.
    """
    events = adapter.fetch_receipts()
    reads = {r.message_id: r for r in events if r.status == "read"}
    reports = {r.message_id: r for r in events if r.status != "read"}
    if not events:
        return 0
    with ledger.transaction() as session:
        ours = {m.id: m for m in messages_by_ids(session, set(reports) | set(reads)) if m.run_id == run.id}
        changes, stored = [], []
        for m in (m for i, m in ours.items() if i in reports and m.state == "sent"):
            report = reports[m.id]
            delivered = report.status in ("delivered", "printed")
            changes.append({"id": m.id, "from_state": m.state, "state": "delivered" if delivered else "failed",
                            "permanent": not delivered, "reason": f"delivery report: {report.status}"
                            + (f" ({scrub(report.detail)})" if report.detail else "")})
            stored.append({"message_id": m.id, "status": report.status, "detail": scrub(report.detail)})
        applied = set(set_states(session, changes))
        add_receipts(session, [r for r in stored if r["message_id"] in applied])
        opened = mark_opened_by_ids(session, {i: _when(r) for i, r in reads.items()
                                              if i in ours and ours[i].state in ("sent", "delivered")})
        add_receipts(session, [{"message_id": i, "status": "read", "detail": reads[i].detail} for i in opened])
    return len(applied) + len(opened)


def _when(report: ReceiptEvent) -> datetime:
    try:
        at = datetime.fromisoformat(report.detail or "")
    except ValueError:
        return datetime.now(timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
