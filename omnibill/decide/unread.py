"""Print if unread: a letter for each document whose digital message was not opened within the tenant's days.

The tenant's `[print_if_unread]` rule names the document categories and the days. A document gets one
letter at most: a new message in channel `print`, kind `print_if_unread`, with the stable id
`message_key(tenant, period, invoice id, "print:print-if-unread")`, planned here and then rendered and
sent by the normal render and dispatch stages. Never for a document that was opened (portal or mailbox
read status), that is paid (a payment with its reference is in the ledger), that already has a print
message of any kind, or whose customer has no complete postal
address (the same reachability rules as the decide stage) or a postal address that was suppressed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from config.tenant import TenantRules
from omnibill.decide.frames import customers_frame
from omnibill.decide.reachability import reach_frame
from omnibill.decide.texts import CHANNEL_WORDS, phrase
from omnibill.ledger.db import Ledger
from omnibill.ledger.decisions import suppressed_hashes
from omnibill.ledger.models import BillingRun
from omnibill.ledger.payments import paid_references
from omnibill.ledger.repository import add_messages
from omnibill.ledger.unread import LETTER_KIND, letter_states, unread_documents
from omnibill.model import message_key
from omnibill.payments import compact_reference

LETTER_KEY = "print:print-if-unread"  # the last fact of a letter's stable message id


def letter_id(tenant: str, period: str, invoice_id: str) -> str:
    """The ledger id of a document's print-if-unread letter: the same on every run of the flow."""
    return message_key(tenant, period, invoice_id, LETTER_KEY)


def letter_reason(channel: str, sent_at: datetime, days: int) -> str:
    """Why a document was printed, in words (a date without long digit runs, so masking leaves it readable)."""
    span = "1 day" if days == 1 else f"{days} days"
    return (f"printed because the {CHANNEL_WORDS.get(channel, channel)} message of {sent_at:%d %b %Y} "
            f"was not opened within {span}")


def run_print_if_unread(ledger: Ledger, run: BillingRun, rules: TenantRules, now: datetime, *,
                        hash_key: bytes = b"") -> dict[str, Any]:
    """Plan a letter for every document of the run whose digital message is unread `days` after it was sent.

    `now` is the moment judged at (the flow passes `wiring.now()`: the real clock or OMNIBILL_NOW).
    `hash_key` is the tenant's address key: the letter carries its address hash like every message,
    and an address suppressed earlier gets no letter. Returns
    `{"planned", "candidates", "skipped": [{"document_id", "customer_id", "reason"}], "cutoff", "rule"}`;
    a rerun plans nothing new (the documents have their print message by then).
    """
    rule = rules.print_if_unread
    if rule is None:
        return {"planned": 0, "candidates": 0, "skipped": [], "cutoff": None,
                "rule": f"tenant {rules.tenant} has no [print_if_unread] rule: nothing is printed"}
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    cutoff = now - timedelta(days=rule.days)
    described = (f"{', '.join(rule.categories)} unread {rule.days} days after their "
                 f"{', '.join(CHANNEL_WORDS.get(c, c) for c in rule.channels)} message")
    with ledger.transaction() as session:
        found = unread_documents(session, run.id, categories=rule.categories, channels=rule.channels,
                                 cutoff=cutoff)
        if not found:
            return {"planned": 0, "candidates": 0, "skipped": [], "cutoff": cutoff.isoformat(), "rule": described}
        customers = customers_frame([c.data for _, c, _, _ in found])
        reach = reach_frame(customers, hash_key)
        suppressed = suppressed_hashes(session, run.tenant, reach["hash_print"])
        paid = paid_references(session, run.tenant, [doc.payment_reference for doc, _, _, _ in found])
        rows, skipped = [], []
        for doc, customer, message, sent_at in found:
            why, address = reach.at[customer.customer_id, "why_print"], reach.at[customer.customer_id, "hash_print"]
            if fact := paid.get(compact_reference(doc.payment_reference or "")):
                problem = f"no letter: {fact.words()}"
            elif why:
                problem = f"no letter: {phrase(why)}"
            elif address in suppressed:
                problem = f"no letter: {phrase('suppressed', suppressed[address])}"
            else:
                problem = ""
            if problem:
                skipped.append({"document_id": doc.invoice_id, "customer_id": doc.customer_id, "reason": problem})
                continue
            rows.append({"id": letter_id(run.tenant, run.period, doc.invoice_id), "run_id": run.id,
                         "document_id": doc.id, "channel": "print", "kind": LETTER_KIND, "batch_no": doc.batch_no,
                         "state": "planned", "permanent": False, "attempts": 0, "cost": rules.cost("print"),
                         "address_hash": address or None,
                         "reason": letter_reason(message.channel, sent_at, rule.days)})
        if rows:
            add_messages(session, rows)  # ids already planned are skipped: a rerun adds nothing
    return {"planned": len(rows), "candidates": len(found), "skipped": skipped, "cutoff": cutoff.isoformat(),
            "rule": described}


def letters_of(ledger: Ledger, run: BillingRun) -> dict[str, int]:
    """A run's print-if-unread letters by state (planned, rendered, sent, delivered, failed, rejected…)."""
    with ledger.read() as session:
        return dict(letter_states(session, run.id))
