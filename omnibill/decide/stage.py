"""Decide stage: the channel of every document of a batch, fallbacks after permanent failures, companions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from config.tenant import TenantRules
from omnibill.decide import companions
from omnibill.decide.engine import decide_frame
from omnibill.decide.frames import customers_frame, docs_frame, prefs_frame
from omnibill.decide.mailbox import MailboxLookup, answered_in_advance, check_mailboxes, provider_lookup
from omnibill.decide.paid import paid_reminders
from omnibill.ledger.decisions import (add_suppressions, primary_counts, primary_channels_tried, promote_due,
                                        suppressed_hashes, write_decisions)
from omnibill.decide.choices import merge_choices
from omnibill.ledger.db import Ledger
from omnibill.ledger.portal import latest_preferences
from omnibill.ledger.models import BillingRun, Document, Message
from omnibill.ledger.repository import (add_messages, documents_with_customers, messages_without_fallback,
                                        undecided_documents)
from config.channels import CHANNELS
from omnibill.model import message_key

_DEFAULT = object()


def run_decide(ledger: Ledger, run: BillingRun, batch_no: int, rules: TenantRules, *, hash_key: bytes,
               now: datetime | None = None, mailbox_lookup: MailboxLookup | None | Any = _DEFAULT) -> Counter:
    """The decide stage for one batch: decisions and planned messages, in one transaction.

    The mailbox provider is asked before the transaction starts: no lock is held across its answer.
    """
    lookup = provider_lookup() if mailbox_lookup is _DEFAULT else mailbox_lookup
    if lookup is not None:
        with ledger.read() as session:
            pairs = undecided_documents(session, run.id, batch_no)
        lookup = answered_in_advance(lookup, _customers(pairs))
    with ledger.transaction() as session:
        return decide_batch(session, run, batch_no, rules, hash_key=hash_key, now=now, mailbox_lookup=lookup)


FALLBACKS_PER_TRANSACTION = 1000  # failed messages, or held companion notices, handled per ledger transaction


def run_fallbacks(ledger: Ledger, run: BillingRun, rules: TenantRules, store, *, hash_key: bytes,
                  now: datetime | None = None) -> int:
    """After a dispatch round: plan fallbacks, release companion notices and scheduled messages that are due.

    A chunk at a time, each in its own transaction, so memory and the time the ledger is held do not grow with
    the run (a large run releases tens of thousands of companion notices after its first round)."""
    now = now or datetime.now(timezone.utc)
    planned, after = 0, ""
    while after is not None:
        with ledger.transaction() as session:
            failed = messages_without_fallback(session, run.id, after, FALLBACKS_PER_TRANSACTION)
            if failed:
                planned += plan_fallbacks(session, run, failed, rules, hash_key=hash_key, now=now, store=store,
                                          release=False)
        after = failed[-1].id if failed else None
    after = ""
    while after is not None:
        with ledger.transaction() as session:
            released, after = companions.release_some(session, run, rules, now, store, after,
                                                      FALLBACKS_PER_TRANSACTION)
        planned += released
    with ledger.transaction() as session:
        return planned + promote_due(session, run.id, now)


def run_release(ledger: Ledger, run: BillingRun, *, now: datetime | None = None) -> int:
    """Scheduled messages whose time has come (quiet hours over) back to ready; returns how many."""
    with ledger.transaction() as session:
        return promote_due(session, run.id, now or datetime.now(timezone.utc))


def decide_batch(session: Session, run: BillingRun, batch_no: int, rules: TenantRules, *, hash_key: bytes,
                 now: datetime | None = None, mailbox_lookup: MailboxLookup | None | Any = _DEFAULT) -> Counter:
    """Decide every undecided document of a batch; plan its primary message and any companion notice."""
    now = now or datetime.now(timezone.utc)
    promote_due(session, run.id, now, batch_no)
    pairs = undecided_documents(session, run.id, batch_no)
    paid = paid_reminders(session, run.tenant, [d for d, _ in pairs], now)
    pairs = [(d, c) for d, c in pairs if d.id not in paid]
    if not pairs:
        return Counter(paid=len(paid)) if paid else Counter()
    lookup = provider_lookup() if mailbox_lookup is _DEFAULT else mailbox_lookup
    out, docs = _decide(session, run, pairs, rules, now, lookup, hash_key, tried={})
    write_decisions(session, [{"id": doc.id, "decision": ch or "none", "decision_reason": reason,
                               "decision_rules": fired, "decided_at": now}
                              for doc, ch, reason, fired in zip(docs, out["channel"], out["reason"], out["rules"])])
    add_messages(session, _message_rows(run, docs, out, rules))
    return Counter(out["channel"].replace("", "unreachable")) + Counter(paid=len(paid))


def plan_fallbacks(session: Session, run: BillingRun, failed: Sequence[Message], rules: TenantRules, *,
                   hash_key: bytes, now: datetime | None = None, store=None, release: bool = True) -> int:
    """After permanent failures: remember bounced addresses, plan the next channel of each chain, and (with
    `release`) release companion notices whose primary was sent, and scheduled messages that are due."""
    now = now or datetime.now(timezone.utc)
    add_suppressions(session, run.tenant, failed)
    primaries = [m for m in failed if m.kind == "primary"]  # a failed notice or letter plans no new channel
    planned = 0
    if primaries:
        found = documents_with_customers(session, [m.document_id for m in primaries])
        pairs = [found[m.document_id] for m in primaries if m.document_id in found]
        tried = primary_channels_tried(session, [d.id for d, _ in pairs])
        out, docs = _decide(session, run, pairs, rules, now, None, hash_key, tried=tried, caps=False)
        by_doc = {m.document_id: m for m in primaries}
        rows = _message_rows(run, docs, out, rules)
        for row in rows:
            if row["kind"] == "primary":
                before = by_doc[row["document_id"]]
                row["fallback_of"] = before.id
                row["reason"] = (f"fallback after {before.channel} failed permanently ({before.reason}); "
                                 + row["reason"])
        add_messages(session, rows)
        planned = sum(1 for r in rows if r["kind"] == "primary")
    if not release:
        return planned
    released = companions.release(session, run, rules, now, store)
    return planned + released + promote_due(session, run.id, now)


def _customers(pairs) -> pd.DataFrame:
    return customers_frame([c.data | {"do_not_contact": (c.data or {}).get("do_not_contact", "")} for _, c in pairs])


def _decide(session: Session, run: BillingRun, pairs, rules: TenantRules, now: datetime,
            lookup: MailboxLookup | None, hash_key: bytes, *, tried: dict[str, set[str]], caps: bool = True):
    """Run the engine over (document, customer) pairs; returns the decisions and the documents in order."""
    docs = [d for d, _ in pairs]
    customers = _customers(pairs)
    customers["mailbox_registered"] = check_mailboxes(customers, lookup)
    frame = pd.DataFrame({"doc_id": [d.id for d in docs], "invoice_id": [d.invoice_id for d in docs],
                          "customer_id": [d.customer_id for d in docs],
                          "category": [d.document_type for d in docs],
                          "tried": ["," + ",".join(sorted(tried.get(d.id, ()))) + "," for d in docs]})
    frame = docs_frame(frame, customers, hash_key)
    chosen = latest_preferences(session, run.tenant, sorted({c.customer_id for _, c in pairs}))
    consents = {c.customer_id: merge_choices(c.consents, chosen.get(c.customer_id)) for _, c in pairs}
    hashes = pd.unique(frame[[f"hash_{c}" for c in CHANNELS]].to_numpy().ravel())
    history = current = None
    if caps:
        windows = {cat: now - timedelta(days=r.cap.days) for cat, r in rules.categories.items() if r.cap}
        history, current = primary_counts(session, run, sorted(set(frame["customer_id"])), windows)
    out = decide_frame(frame, prefs_frame(consents), rules, now=now, history=history, run_counts=current,
                       suppressed=suppressed_hashes(session, run.tenant, hashes))
    return out, docs


def _message_rows(run: BillingRun, docs: list[Document], out: pd.DataFrame, rules: TenantRules) -> list[dict]:
    """The primary message (planned or scheduled) and companion notice (held) of each decided document."""
    rows = []
    for doc, (channel, state, not_before, reason, address, comp, comp_reason, comp_hash) in zip(
            docs, out[["channel", "state", "not_before", "reason", "hash", "companion", "companion_reason",
                       "companion_hash"]].itertuples(index=False)):
        if not channel:
            continue
        rows.append(_row(run, doc, channel, rules, state=state, reason=reason, address_hash=address,
                         not_before=None if pd.isna(not_before) else not_before.to_pydatetime()))
        if comp:
            rows.append(_row(run, doc, comp, rules, state="held", reason=comp_reason, address_hash=comp_hash,
                             not_before=None, kind="companion"))
    return rows


def _row(run: BillingRun, doc: Document, channel: str, rules: TenantRules, *, kind: str = "primary",
         **values: Any) -> dict:
    key = channel if kind == "primary" else f"{channel}:companion"
    return {"id": message_key(run.tenant, run.period, doc.invoice_id, key), "run_id": run.id, "document_id": doc.id,
            "channel": channel, "batch_no": doc.batch_no, "permanent": False, "attempts": 0, "kind": kind,
            "cost": rules.cost(channel)} | values
