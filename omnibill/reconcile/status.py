"""Read a run back: one row per document and channel tried, quarantined rows included."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Document
from omnibill.ledger.reports import documents_with_messages
from omnibill.ledger.repository import quarantined
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.privacy import scrub


def status_rows(session: Session, run: BillingRun,
                link_of: Callable[[Document], str | None] | None = None) -> list[dict[str, Any]]:
    """Every invoice row of the extract, as one object per document and channel tried.

    With `link_of`, each e-mail and SMS that links to its document carries that `link`.
    """
    rows: list[dict[str, Any]] = []
    for doc, msg in documents_with_messages(session, run.id):
        base = {"document_id": doc.invoice_id, "customer_id": doc.customer_id, "document_type": doc.document_type,
                "batch": doc.batch_no, "decision": scrub(doc.decision_reason)}
        if msg is None:
            state = "pending" if doc.decision is None else "paid" if doc.decision == "paid" else "suppressed"
            rows.append(base | {"channel": None, "kind": "primary", "state": state,
                                "reason": scrub(doc.decision_reason or "not decided yet"),
                                "attempts": 0, "message_id": None, "fallback_of": None, "not_before": None})
            continue
        state = msg.state if msg.state != "failed" else ("rejected" if msg.permanent else "failed")
        rows.append(base | {"channel": msg.channel, "kind": msg.kind, "state": state, "reason": scrub(msg.reason),
                            "attempts": msg.attempts, "message_id": msg.id, "fallback_of": msg.fallback_of,
                            "not_before": msg.not_before.isoformat() if msg.not_before else None,
                            "opened_at": msg.opened_at.isoformat() if msg.opened_at else None,
                            "link": link_of(doc) if link_of and msg.channel in LINKED and msg.kind == "primary"
                            else None,
                            "files": msg.content or {}})
    for q in quarantined(session, run.id, "invoices") + quarantined(session, run.id, "messages"):
        where = f"{q.file} row {q.row_number}" + (f", field {q.field}" if q.field else "")
        rows.append({"document_id": q.record_key or f"{q.file}#row{q.row_number}", "customer_id": q.customer_id,
                     "document_type": (q.raw or {}).get("document_type") or (q.raw or {}).get("category"), "batch": None, "decision": None,
                     "channel": None, "kind": "primary", "not_before": None,
                     "state": "quarantined", "reason": f"{where}: {q.reason}", "attempts": 0,
                     "message_id": None, "fallback_of": None})
    return rows


LINKED = ("email", "sms")  # the messages whose text links to the document in the portal


def status_counts(rows: list[dict[str, Any]]) -> Counter:
    """Rows counted per (channel, state); companion notices and service/marketing messages apart."""
    def label(r: dict[str, Any]) -> str:
        if r.get("kind", "primary") != "primary":
            return f"{r['channel']} ({r['kind']})"
        if r["document_type"] in MESSAGE_CATEGORIES:
            return f"{r['channel'] or '-'} ({r['document_type']})"
        return r["channel"] or "-"
    return Counter((label(r), r["state"]) for r in rows)
