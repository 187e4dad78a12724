"""Ledger reads for operators: failures, the dry-run forecast, what a rerun would pick."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnibill.ledger.models import Document, Message
from omnibill.ledger.repository import DISPATCHABLE_STATES, not_permanently_failed
from omnibill.privacy import scrub

# What a real run would send: pending states and transient failures. Held companion notices
# are conditional on their primary message, so they are not forecast.
TO_SEND = ("planned", "rendered", "sending", "scheduled", "failed")
FAILURES_SHOWN = 500  # an artifact is a page in the UI, not an export: `status --json` has them all


def failures(session: Session, run_id: str, limit: int = FAILURES_SHOWN) -> list[dict[str, Any]]:
    """Failed messages with batch, channel, invoice, kind and masked reason, oldest batch first."""
    stmt = (select(Message.batch_no, Message.channel, Document.invoice_id, Message.permanent, Message.attempts,
                   Message.reason)
            .join(Document, Document.id == Message.document_id)
            .where(Message.run_id == run_id, Message.state == "failed")
            .order_by(Message.batch_no, Message.channel, Document.invoice_id).limit(limit))
    return [{"batch": b, "channel": c, "invoice": inv, "kind": "permanent" if perm else "transient",
             "attempts": n, "reason": scrub(reason)} for b, c, inv, perm, n, reason in session.execute(stmt)]


def failed_transient(session: Session, run_id: str, channel: str, batch_no: int) -> int:
    """Messages of one channel's batch still failed transiently (or left pending)."""
    stmt = select(func.count()).select_from(Message).where(
        Message.run_id == run_id, Message.channel == channel, Message.batch_no == batch_no,
        Message.state.in_(DISPATCHABLE_STATES), not_permanently_failed())
    return session.scalar(stmt) or 0


def forecast(session: Session, run_id: str) -> list[dict[str, Any]]:
    """Channel mix and cost of the messages a run would send (not failed permanently, not sent yet)."""
    stmt = (select(Message.channel, func.count(), func.sum(Message.cost))
            .where(Message.run_id == run_id, Message.state.in_(TO_SEND),
                   not_permanently_failed())
            .group_by(Message.channel).order_by(Message.channel))
    rows = [(c, n, Decimal(cost or 0)) for c, n, cost in session.execute(stmt)]
    total = sum(n for _, n, _ in rows) or 1
    return [{"channel": c, "messages": n, "share": f"{100 * n / total:.1f}%", "cost_eur": f"{cost:.2f}"}
            for c, n, cost in rows]

