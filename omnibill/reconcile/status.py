"""Read a run back: one row per document and channel tried, quarantined rows included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Document
from omnibill.ledger.reports import documents_with_messages
from omnibill.ledger.repository import quarantined
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.privacy import scrub


def status_rows(session: Session, run: BillingRun,
                link_of: Callable[[Document], str | None] | None = None) -> list[dict[str, Any]]:
    """Every invoice row of the extract, as one object per document and channel tried (see `each_status_row`)."""
    return list(each_status_row(session, run, link_of))


def each_status_row(session: Session, run: BillingRun,
                    link_of: Callable[[Document], str | None] | None = None) -> Iterator[dict[str, Any]]:
    """Every invoice row of the extract, as one object per document and channel tried, read as they come.

    With `link_of`, each e-mail and SMS that links to its document carries that `link`.
    """
    for doc, msg in documents_with_messages(session, run.id):
        base = {"document_id": doc.invoice_id, "customer_id": doc.customer_id, "document_type": doc.document_type,
                "batch": doc.batch_no, "decision": scrub(doc.decision_reason)}
        if msg is None:
            state = "pending" if doc.decision is None else "paid" if doc.decision == "paid" else "suppressed"
            yield base | {"channel": None, "kind": "primary", "state": state,
                          "reason": scrub(doc.decision_reason or "not decided yet"),
                          "attempts": 0, "message_id": None, "fallback_of": None, "not_before": None}
            continue
        state = msg.state if msg.state != "failed" else ("rejected" if msg.permanent else "failed")
        yield base | {"channel": msg.channel, "kind": msg.kind, "state": state, "reason": scrub(msg.reason),
                      "attempts": msg.attempts, "message_id": msg.id, "fallback_of": msg.fallback_of,
                      "not_before": msg.not_before.isoformat() if msg.not_before else None,
                      "opened_at": msg.opened_at.isoformat() if msg.opened_at else None,
                      "link": link_of(doc) if link_of and msg.channel in LINKED and msg.kind == "primary" else None,
                      "files": msg.content or {}}
    for q in quarantined(session, run.id, "invoices") + quarantined(session, run.id, "messages"):
        where = f"{q.file} row {q.row_number}" + (f", field {q.field}" if q.field else "")
        yield {"document_id": q.record_key or f"{q.file}#row{q.row_number}", "customer_id": q.customer_id,
               "document_type": (q.raw or {}).get("document_type") or (q.raw or {}).get("category"), "batch": None,
               "decision": None, "channel": None, "kind": "primary", "not_before": None,
               "state": "quarantined", "reason": f"{where}: {q.reason}", "attempts": 0,
               "message_id": None, "fallback_of": None}


LINKED = ("email", "sms")  # the messages whose text links to the document in the portal


def status_label(row: dict[str, Any]) -> tuple[str, str]:
    """(channel, state) a row is counted under; companion notices and service/marketing messages apart."""
    if row.get("kind", "primary") != "primary":
        return f"{row['channel']} ({row['kind']})", row["state"]
    if row["document_type"] in MESSAGE_CATEGORIES:
        return f"{row['channel'] or '-'} ({row['document_type']})", row["state"]
    return row["channel"] or "-", row["state"]
