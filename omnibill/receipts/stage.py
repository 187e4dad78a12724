"""Receipts stage: delivery reports from providers move messages to delivered or failed."""

from __future__ import annotations

from channel_adapters.base import ChannelAdapter
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.repository import add_receipts, messages_by_ids, set_states
from omnibill.privacy import scrub


def run_receipts(ledger: Ledger, run: BillingRun, adapter: ChannelAdapter) -> int:
    """The receipts stage for one channel: the provider's delivery reports applied to this run's sent messages."""
    reports = {r.message_id: r for r in adapter.fetch_receipts()}
    if not reports:
        return 0
    with ledger.transaction() as session:
        messages = [m for m in messages_by_ids(session, reports) if m.run_id == run.id and m.state == "sent"]
        changes, stored = [], []
        for m in messages:
            report = reports[m.id]
            delivered = report.status in ("delivered", "printed")
            changes.append({"id": m.id, "from_state": m.state, "state": "delivered" if delivered else "failed",
                            "permanent": not delivered, "reason": f"delivery report: {report.status}"
                            + (f" ({scrub(report.detail)})" if report.detail else "")})
            stored.append({"message_id": m.id, "status": report.status, "detail": scrub(report.detail)})
        applied = set(set_states(session, changes))
        add_receipts(session, [r for r in stored if r["message_id"] in applied])
    return len(applied)
