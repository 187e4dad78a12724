"""Ledger queries of the decide stage (history for caps, suppressions, schedules, companions). Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, Document, Message, Suppression
from omnibill.ledger.repository import chunks, insert_ignore, set_states, sync_loaded, update_from_values
from omnibill.model import stable_id

SENT = ("sent", "delivered")
LIVE = ("planned", "scheduled", "rendered", "sending", "sent", "delivered", "failed")


def primary_counts(session: Session, run: BillingRun, customer_ids: Sequence[str], windows: dict[str, datetime],
                   ) -> tuple[pd.Series, pd.Series]:
    """Primary messages per (customer_id, category): (in each category's cap window incl. this run, in this run).

    Earlier runs count what was sent or delivered since the window start. This run counts each of its documents
    once that has a primary message not cancelled, whatever became of it since: a batch is decided while earlier
    ones are sent, and a message of an earlier batch that failed permanently in the meantime (its fallback comes
    later, uncapped) must count as it did before it was sent, or the decision would depend on timing.
    """
    rows: list[tuple[str, str, str, str, datetime | None, bool]] = []
    for chunk in chunks(list(customer_ids)):
        stmt = (select(Document.customer_id, Document.document_type, Document.id, Message.run_id, Message.updated_at,
                       Message.state)
                .join(Message, Message.document_id == Document.id)
                .join(BillingRun, BillingRun.id == Document.run_id)
                .where(BillingRun.tenant == run.tenant, Document.customer_id.in_(chunk), Message.kind == "primary",
                       Message.state.in_(LIVE)))
        rows.extend((c, t, d, r, at, r == run.id or s in SENT) for c, t, d, r, at, s in session.execute(stmt))
    frame = pd.DataFrame(rows, columns=["customer_id", "category", "document_id", "run_id", "at", "counts"])
    # A document of this run whose primary failed and that has another primary since counts once.
    frame = frame[frame["counts"] & ~((frame["run_id"] == run.id) & frame.duplicated("document_id"))]
    if frame.empty:
        empty = pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=["customer_id", "category"]))
        return empty, empty
    since = frame["category"].map(windows)
    at = pd.to_datetime(frame["at"], utc=True)
    this_run = frame["run_id"] == run.id
    in_window = this_run | (since.notna() & (at >= pd.to_datetime(since, utc=True)))
    window = frame[in_window].groupby(["customer_id", "category"]).size()
    current = frame[this_run].groupby(["customer_id", "category"]).size()
    return window, current


def suppressed_hashes(session: Session, tenant: str, hashes: Iterable[str]) -> dict[str, str]:
    """Address hashes that bounced in this tenant's earlier messages, with the date they were suppressed."""
    wanted = sorted({h for h in hashes if h})
    found: dict[str, str] = {}
    for chunk in chunks(wanted):
        stmt = select(Suppression.address_hash, Suppression.created_at).where(
            Suppression.tenant == tenant, Suppression.address_hash.in_(chunk))
        found.update({h: at.strftime("%d %b %Y") for h, at in session.execute(stmt)})
    return found


def add_suppressions(session: Session, tenant: str, failed: Sequence[Message]) -> int:
    """Remember the addresses of permanently failed messages (by hash) so later runs skip them."""
    rows = [{"id": stable_id("suppression", tenant, m.channel, m.address_hash), "tenant": tenant,
             "channel": m.channel, "address_hash": m.address_hash, "reason": (m.reason or "")[:500],
             "message_id": m.id} for m in failed if m.address_hash and is_address_failure(m.reason)]
    insert_ignore(session, Suppression, rows)
    return len(rows)


# Permanent failures of our own making (rendering, a text too long for the channel): the address is fine.
NOT_ABOUT_THE_ADDRESS = ("render failed", "message has no", "message text is")


def is_address_failure(reason: str | None) -> bool:
    """A permanent failure about the recipient (bounce, unknown user), not about our own rendering."""
    return not (reason or "").startswith(NOT_ABOUT_THE_ADDRESS)


def primary_channels_tried(session: Session, document_ids: Sequence[str]) -> dict[str, set[str]]:
    """Channels each document already has primary messages in."""
    tried: dict[str, set[str]] = {}
    for chunk in chunks(list(document_ids)):
        stmt = select(Message.document_id, Message.channel).where(Message.document_id.in_(chunk),
                                                                   Message.kind == "primary")
        for doc_id, channel in session.execute(stmt):
            tried.setdefault(doc_id, set()).add(channel)
    return tried


def promote_due(session: Session, run_id: str, now: datetime, batch_no: int | None = None) -> int:
    """Scheduled messages whose time has come: back to planned (or rendered when already stored)."""
    stmt = select(Message).where(Message.run_id == run_id, Message.state == "scheduled", Message.not_before <= now)
    if batch_no is not None:
        stmt = stmt.where(Message.batch_no == batch_no)
    due = list(session.scalars(stmt))
    set_states(session, [{"id": m.id, "from_state": "scheduled", "state": "rendered" if m.content else "planned",
                          "reason": (m.reason or "") + "; quiet hours over"} for m in due])
    return len(due)


def held_companions(session: Session, run_id: str, after: str = "", limit: int | None = None
                    ) -> list[tuple[Message, list[Message]]]:
    """Companion notices waiting for their primary (in id order, after the id `after`, at most `limit`), each with
    its document's primary messages."""
    stmt = select(Message).where(Message.run_id == run_id, Message.kind == "companion", Message.state == "held",
                                 Message.id > after).order_by(Message.id).limit(limit)
    held = list(session.scalars(stmt))
    primaries: dict[str, list[Message]] = {}
    for chunk in chunks([m.document_id for m in held]):
        for m in session.scalars(select(Message).where(Message.document_id.in_(chunk), Message.kind == "primary")):
            primaries.setdefault(m.document_id, []).append(m)
    return [(notice, primaries.get(notice.document_id, [])) for notice in held]


def write_decisions(session: Session, updates: list[dict[str, Any]]) -> None:
    """Store each document's decision, reason and fired rules (one UPDATE … FROM VALUES per chunk on PostgreSQL)."""
    if not updates:
        return
    if session.get_bind().dialect.name == "postgresql":
        update_from_values(session, Document.__table__, updates, ("id",))
        sync_loaded(session, Document, updates)
    else:
        session.execute(update(Document), updates)
