"""Reconcile stage: every document of the extract accounted for, per channel, with amounts and cost."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.runs import finish_run
from omnibill.ledger.reports import (count_documents, count_quarantined, document_outcomes, failures, forecast,
                                     message_tallies)
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.reconcile.paid import PAID, add_paid, paid_table

BUCKETS = ("planned", "sent", "delivered", "failed", "rejected", "scheduled", "held", "pending", "cancelled")


@dataclass
class ChannelLine:
    """Counts and money of one channel."""

    channel: str
    kind: str = "primary"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    amounts: dict[str, Decimal] = field(default_factory=dict)
    cost: Decimal = Decimal("0")
    opened: int = 0  # messages whose document the recipient opened (portal, or the mailbox's read status)
    reached_documents: int = 0  # billing documents whose primary message in this channel was sent or delivered
    paid: int = 0  # of those, the documents paid (a payment with their reference)
    amounts_paid: dict[str, Decimal] = field(default_factory=dict)

    @property
    def paid_share(self) -> float:
        """Paid among the documents that reached the recipient in this channel."""
        return self.paid / self.reached_documents if self.reached_documents else 0.0

    @property
    def opened_share(self) -> float:
        """Opened among the messages that reached the recipient."""
        reached = self.counts["sent"] + self.counts["delivered"]
        return self.opened / reached if reached else 0.0


@dataclass
class Reconciliation:
    """The run's accounts: documents in = documents accounted for."""

    tenant: str
    period: str
    invoice_rows: int
    documents_in_ledger: int
    quarantined: int
    unreachable: int
    outcome: dict[str, int]
    channels: list[ChannelLine]
    messages: dict[str, Any] = field(default_factory=dict)
    paid_unsent: int = 0  # reminders not sent because their invoice was paid
    release: dict[str, Any] | None = None  # a run released by hand: state, by, comment, at

    @property
    def accounted(self) -> int:
        """Documents with a known outcome, quarantined rows and reminders not sent as paid included."""
        return sum(self.outcome.values()) + self.quarantined + self.unreachable + self.paid_unsent

    @property
    def left_to_send(self) -> int:
        """Documents, messages and notices failed transiently or still pending (scheduled and held are waiting)."""
        outcomes = [self.outcome, self.messages.get("outcome") or {}]
        notices = [c for c in self.channels if c.kind != "primary"]
        return (sum(o.get("failed_transient", 0) + o.get("pending", 0) for o in outcomes)
                + sum(c.counts["failed"] + c.counts["pending"] for c in notices))

    @property
    def balanced(self) -> bool:
        """Whether every invoice row (and every service/marketing message) of the extract is accounted for."""
        m = self.messages
        messages_ok = not m or sum(m["outcome"].values()) + m["suppressed"] + m["quarantined"] == m["in_extract"]
        return self.accounted == self.invoice_rows and messages_ok

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form, for the run summary and artifacts."""
        return {"tenant": self.tenant, "period": self.period, "invoice_rows": self.invoice_rows,
                "documents_in_ledger": self.documents_in_ledger, "quarantined": self.quarantined,
                "unreachable": self.unreachable, "paid_unsent": self.paid_unsent, "outcome": self.outcome,
                "accounted": self.accounted,
                "release": self.release,
                "balanced": self.balanced, "status": run_status(self), "left_to_send": self.left_to_send, "messages": self.messages,
                "channels": [{"channel": c.channel, "kind": c.kind, **c.counts, "cost": str(c.cost), "opened": c.opened,
                              "opened_share": round(c.opened_share, 4),
                              "amounts_sent": {cur: str(a) for cur, a in sorted(c.amounts.items())},
                              "reached_documents": c.reached_documents, "paid": c.paid,
                              "paid_share": round(c.paid_share, 4),
                              "amounts_paid": {cur: str(a) for cur, a in sorted(c.amounts_paid.items())}}
                             for c in self.channels]}


def run_reconcile(ledger: Ledger, run: BillingRun, invoice_rows: int) -> Reconciliation:
    """The reconcile stage: count the run, store the summary and the run's status in the ledger."""
    with ledger.transaction() as session:
        rec = reconcile(session, run, invoice_rows)
        finish_run(session, run.id, rec.as_dict(), run_status(rec))
    return rec


def reconcile_only(ledger: Ledger, run: BillingRun, invoice_rows: int) -> Reconciliation:
    """The run's accounts as they stand, stored nowhere (for the terminal)."""
    with ledger.read() as session:
        return reconcile(session, run, invoice_rows)


def invoice_rows_of(ledger: Ledger, run: BillingRun) -> int:
    """The extract's invoice rows, as the last reconciliation counted them (documents + quarantined if none)."""
    if run.summary and run.summary.get("invoice_rows"):
        return int(run.summary["invoice_rows"])
    with ledger.read() as session:
        rec = reconcile(session, run, 0)
    return rec.documents_in_ledger + rec.quarantined


def failures_of(ledger: Ledger, run: BillingRun) -> list[dict[str, Any]]:
    """Failed messages with their masked reasons, for the failures artifact."""
    with ledger.read() as session:
        return failures(session, run.id)


def forecast_of(ledger: Ledger, run: BillingRun) -> list[dict[str, Any]]:
    """A dry run's channel mix and cost."""
    with ledger.read() as session:
        return forecast(session, run.id)


def run_status(rec: Reconciliation) -> str:
    """`complete` only when nothing is left scheduled, failed transiently or pending; else why not."""
    if not rec.balanced:
        return "unbalanced"
    if rec.left_to_send:
        return "incomplete"
    if any(c.counts["scheduled"] or c.counts["held"] for c in rec.channels):
        return "scheduled"
    return "complete"


def reconcile(session: Session, run: BillingRun, invoice_rows: int) -> Reconciliation:
    """Count a run's documents by final outcome and its messages by channel and state."""
    channels: dict[str, ChannelLine] = defaultdict(lambda: ChannelLine(""))
    rows = message_tallies(session, run.id)
    for channel, kind, doc_type, state, permanent, currency, n, amount, cost, opened in rows:
        # Companion notices ("your invoice is in your mailbox") are no copy of the document, and
        # service/marketing messages carry no amount: both are listed on lines of their own.
        name = f"{channel} ({kind})" if kind != "primary" else (
            f"{channel} ({doc_type})" if doc_type in MESSAGE_CATEGORIES else channel)
        line = channels[name]
        line.channel, line.kind = name, kind
        line.counts["planned"] += n
        line.counts[_bucket(state, permanent)] += n
        line.opened += opened
        if state in ("sent", "delivered"):
            line.cost += Decimal(cost or 0)
        if state in ("sent", "delivered") and kind == "primary" and currency:
            line.amounts[currency] = line.amounts.get(currency, Decimal("0")) + Decimal(amount or 0)
    add_paid(session, run, channels)
    return Reconciliation(
        tenant=run.tenant, period=run.period, invoice_rows=invoice_rows,
        documents_in_ledger=count_documents(session, run.id, billing=True),
        quarantined=count_quarantined(session, run.id, "invoices"),
        unreachable=count_documents(session, run.id, billing=True, decision="none"),
        paid_unsent=count_documents(session, run.id, billing=True, decision=PAID),
        outcome=document_outcomes(session, run.id),
        channels=sorted(channels.values(), key=lambda c: c.channel),
        messages=_message_accounts(session, run.id),
        release={"state": run.release_state, "by": run.release_by, "comment": run.release_comment,
                 "at": run.released_at.isoformat() if run.released_at else None} if run.release_state else None)


def _message_accounts(session: Session, run_id: str) -> dict[str, Any]:
    """The extract's service and marketing messages: in = sent + … + suppressed (no consent, capped) + quarantined."""
    quarantined = count_quarantined(session, run_id, "messages")
    return {"in_extract": count_documents(session, run_id, billing=False) + quarantined,
            "outcome": document_outcomes(session, run_id, billing=False),
            "suppressed": count_documents(session, run_id, billing=False, decision="none"), "quarantined": quarantined}


def _bucket(state: str, permanent: bool) -> str:
    if state in ("sent", "delivered"):
        return state
    if state == "failed":
        return "rejected" if permanent else "failed"
    return state if state in ("scheduled", "held", "cancelled") else "pending"


def render_table(rec: Reconciliation) -> str:
    """The reconciliation as a plain-text table for the terminal."""
    head = f"{'channel':<24}{'planned':>9}{'sent':>8}{'deliv.':>8}{'failed':>8}{'rejected':>9}{'sched.':>8}{'pending':>9}" \
           f"{'opened':>8}{'cost EUR':>11}  amounts sent"
    lines = [f"Reconciliation {rec.tenant} {rec.period}", head, "-" * len(head)]
    for c in rec.channels:
        k = c.counts
        lines.append(f"{c.channel:<24}{k['planned']:>9}{k['sent']:>8}{k['delivered']:>8}{k['failed']:>8}"
                     f"{k['rejected']:>9}{k['scheduled']:>8}{k['pending']:>9}{c.opened_share:>8.0%}{c.cost:>11,.2f}  "
                     + ", ".join(f"{cur} {amt:,.2f}" for cur, amt in sorted(c.amounts.items())))
    o = rec.outcome
    lines += ["-" * len(head),
              f"documents in extract: {rec.invoice_rows}  = sent {o['sent']} + delivered {o['delivered']}"
              f" + failed {o['failed_transient'] + o['failed_permanent']} + scheduled {o['scheduled']}"
              f" + pending {o['pending']}"
              f" + unreachable {rec.unreachable} + quarantined {rec.quarantined}"
              + (f" + paid before the reminder {rec.paid_unsent}" if rec.paid_unsent else "")
              + f"  -> {'balanced' if rec.balanced else 'NOT BALANCED (' + str(rec.accounted) + ' accounted)'}"]
    if rec.messages and rec.messages["in_extract"]:
        m, mo = rec.messages, rec.messages["outcome"]
        lines.append(f"messages in extract: {m['in_extract']}  = sent {mo['sent'] + mo['delivered']}"
                     f" + failed {mo['failed_transient'] + mo['failed_permanent']} + scheduled {mo['scheduled']}"
                     f" + pending {mo['pending']} + not sent by the rules {m['suppressed']}"
                     f" + quarantined {m['quarantined']}")
    if rec.release:
        lines.append(release_line(rec.release))
    return "\n".join(lines + paid_table(rec.channels))


def release_line(release: dict[str, Any]) -> str:
    """`release: approved by Anna Ek at 2026-11-02 09:14 UTC (VAT checked)`."""
    at = f" at {release['at'][:16].replace('T', ' ')} UTC" if release.get("at") else ""
    return (f"release: {release['state']}" + (f" by {release['by']}" if release.get("by") else "") + at
            + (f" ({release['comment']})" if release.get("comment") else ""))
