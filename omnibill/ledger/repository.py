"""Ledger queries on documents and messages: planning, state changes, claims, attempts, receipts.

Repositories never commit: the caller owns the transaction. Every state change names the state it
expects to leave; a message that has moved on meanwhile is left alone (and reported as not applied).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnibill.ledger.models import (BillingRun, Customer, DispatchAttempt, Document, Message, MessageEvent,
                                    QuarantinedRow, Receipt)
from omnibill.model import stable_id

# What dispatch (and a rerun) picks up: rendered, failed transiently, or left in flight by a dispatcher
# whose claim has lapsed (see `claim_messages`).
DISPATCHABLE_STATES = ("rendered", "sending", "failed")


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices of at most `size` values: keeps IN lists and multi-row inserts under driver limits."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def not_permanently_failed():
    """SQL condition: the message is not one that failed permanently (a transient failure still counts)."""
    return ~((Message.state == "failed") & Message.permanent)


def insert_ignore(session: Session, model: type, rows: Sequence[dict[str, Any]], chunk: int = 500) -> None:
    """Insert rows, skipping those whose primary key is already stored (reruns are no-ops)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for part in chunks(rows, chunk):
        session.execute(make(model).on_conflict_do_nothing(), list(part))


def batch_numbers(session: Session, run_id: str) -> list[int]:
    """The batches of a run, in order."""
    rows = session.execute(select(Document.batch_no).where(Document.run_id == run_id).distinct())
    return sorted(r[0] for r in rows)


def undecided_documents(session: Session, run_id: str, batch_no: int) -> list[tuple[Document, Customer]]:
    """Documents of a batch without a decision yet, with their customers."""
    stmt = (select(Document, Customer)
            .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
            .where(Document.run_id == run_id, Document.batch_no == batch_no, Document.decision.is_(None))
            .order_by(Document.invoice_id))
    return [(d, c) for d, c in session.execute(stmt)]


def documents_with_customers(session: Session, document_ids: Iterable[str]) -> dict[str, tuple[Document, Customer]]:
    """Documents by id, with their customers."""
    ids = list(document_ids)
    found: dict[str, tuple[Document, Customer]] = {}
    for part in chunks(ids):
        stmt = (select(Document, Customer)
                .join(Customer, (Customer.run_id == Document.run_id) & (Customer.customer_id == Document.customer_id))
                .where(Document.id.in_(part)))
        found.update({d.id: (d, c) for d, c in session.execute(stmt)})
    return found


def messages_in(session: Session, run_id: str, *, states: Sequence[str], batch_no: int | None = None,
                channel: str | None = None, transient_only: bool = True) -> list[Message]:
    """Messages of a run in given states (a `failed` one only when transient, unless asked)."""
    stmt = select(Message).where(Message.run_id == run_id, Message.state.in_(states))
    if batch_no is not None:
        stmt = stmt.where(Message.batch_no == batch_no)
    if channel is not None:
        stmt = stmt.where(Message.channel == channel)
    if transient_only:
        stmt = stmt.where(not_permanently_failed())
    return list(session.scalars(stmt.order_by(Message.id)))


def channel_batches(session: Session, run_id: str, states: Sequence[str]) -> list[tuple[str, int]]:
    """(channel, batch) pairs that have messages in the given states (transient failures only)."""
    stmt = (select(Message.channel, Message.batch_no)
            .where(Message.run_id == run_id, Message.state.in_(states),
                   not_permanently_failed())
            .distinct())
    return sorted((c, b) for c, b in session.execute(stmt))


def set_states(session: Session, changes: Sequence[dict[str, Any]]) -> list[str]:
    """Move messages from the state each change expects to leave, recording each transition with its cause.

    Each change: {"id", "from_state", "state", "reason", ...extra Message columns}, and optionally
    "claimant": then the message must also still be claimed by that claimant. Returns the ids moved;
    a message found in another state (someone else moved it) is not touched.
    """
    if not changes:
        return []
    current: dict[str, tuple[str, str | None]] = {}
    for part in chunks(sorted({c["id"] for c in changes})):
        # FOR UPDATE on PostgreSQL; SQLite transactions hold the database's write lock from BEGIN IMMEDIATE.
        stmt = (select(Message.id, Message.state, Message.claimed_by).where(Message.id.in_(part))
                .order_by(Message.id).with_for_update())  # one lock order for every writer: no deadlocks
        current.update({i: (st, by) for i, st, by in session.execute(stmt)})
    applied = [c for c in changes if c["id"] in current and current[c["id"]][0] == c["from_state"]
               and ("claimant" not in c or current[c["id"]][1] == c["claimant"])]
    if not applied:
        return []
    now = datetime.now(timezone.utc)
    rows = [{k: v for k, v in c.items() if k not in ("from_state", "claimant")} | {"updated_at": now}
            for c in applied]
    session.execute(update(Message), rows)
    session.execute(MessageEvent.__table__.insert(), [
        {"message_id": c["id"], "from_state": c["from_state"], "to_state": c["state"],
         "reason": c.get("reason"), "at": now} for c in applied])
    return [c["id"] for c in applied]


def claim_messages(session: Session, run_id: str, channel: str, batch_no: int, claimant: str, *,
                   now: datetime, lease_until: datetime, limit: int,
                   touched_before: datetime | None = None) -> list[Message]:
    """Take up to `limit` messages of a channel's batch for sending: one conditional change to `sending`.

    Claimable: rendered, failed transiently, or `sending` under a lease that has lapsed (its owner
    died; the resend carries the same idempotency key). On PostgreSQL rows another claimant is
    taking right now are skipped (FOR UPDATE SKIP LOCKED); on SQLite the write lock serialises
    claimants. Returns the messages this claimant won, as they were before the claim.
    """
    lapsed = and_(Message.state == "sending", or_(Message.lease_until.is_(None), Message.lease_until < now))
    stmt = (select(Message)
            .where(Message.run_id == run_id, Message.channel == channel, Message.batch_no == batch_no,
                   or_(Message.state == "rendered", and_(Message.state == "failed", ~Message.permanent), lapsed))
            .order_by(Message.id).limit(limit).with_for_update(skip_locked=True))
    if touched_before is not None:  # not what this dispatcher already tried (its transient failures)
        stmt = stmt.where(Message.updated_at < touched_before)
    candidates = list(session.scalars(stmt))
    won = set(set_states(session, [
        {"id": m.id, "from_state": m.state, "state": "sending", "claimed_by": claimant, "lease_until": lease_until,
         "attempts": m.attempts + 1, "reason": f"claimed for attempt {m.attempts + 1}"
                   + (" (the earlier claim lapsed)" if m.state == "sending" else "")} for m in candidates]))
    return [m for m in candidates if m.id in won]


def add_messages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Plan new messages (skipping ids already planned) and record their first state."""
    existing = set(session.scalars(select(Message.id).where(Message.id.in_([r["id"] for r in rows]))))
    fresh = [r for r in rows if r["id"] not in existing]
    insert_ignore(session, Message, fresh)
    if fresh:
        session.execute(MessageEvent.__table__.insert(), [
            {"message_id": r["id"], "from_state": None, "to_state": r.get("state", "planned"),
             "reason": r.get("reason"), "at": datetime.now(timezone.utc)} for r in fresh])


def start_attempts(session: Session, messages: Sequence[Message]) -> dict[str, int]:
    """Record a dispatch attempt per message (in one statement); returns attempt numbers by message id."""
    numbers = {m.id: m.attempts + 1 for m in messages}
    if numbers:
        session.execute(DispatchAttempt.__table__.insert(), [
            {"message_id": mid, "attempt_no": n, "started_at": datetime.now(timezone.utc), "outcome": "sending",
             "permanent": False} for mid, n in numbers.items()])
    return numbers


def finish_attempts(session: Session, outcomes: Sequence[dict[str, Any]]) -> None:
    """Close attempts: [{"message_id", "attempt_no", "outcome", "error", "permanent"}]."""
    if not outcomes:
        return
    table = DispatchAttempt.__table__
    stmt = (table.update()
            .where(table.c.message_id == bindparam("m_id"), table.c.attempt_no == bindparam("m_no"))
            .values(outcome=bindparam("outcome"), error=bindparam("error"), permanent=bindparam("permanent"),
                    finished_at=bindparam("finished_at")))
    now = datetime.now(timezone.utc)
    session.execute(stmt, [{"m_id": o["message_id"], "m_no": o["attempt_no"], "outcome": o["outcome"],
                            "error": o.get("error"), "permanent": o.get("permanent", False), "finished_at": now}
                           for o in outcomes])


def add_receipts(session: Session, receipts: Sequence[dict[str, Any]]) -> None:
    """Store delivery reports."""
    if receipts:
        session.execute(Receipt.__table__.insert(), list(receipts))


def quarantined(session: Session, run_id: str, table: str | None = None) -> list[QuarantinedRow]:
    """Quarantined extract rows of a run."""
    stmt = select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)
    if table:
        stmt = stmt.where(QuarantinedRow.table_name == table)
    return list(session.scalars(stmt.order_by(QuarantinedRow.table_name, QuarantinedRow.row_number)))


def messages_without_fallback(session: Session, run_id: str) -> list[Message]:
    """Permanently failed messages for which no fallback message has been planned yet."""
    successor = select(Message.fallback_of).where(Message.run_id == run_id, Message.fallback_of.is_not(None))
    stmt = (select(Message).where(Message.run_id == run_id, Message.state == "failed", Message.permanent,
                                  Message.id.not_in(successor)).order_by(Message.id))
    return list(session.scalars(stmt))


def messages_by_ids(session: Session, ids: Iterable[str]) -> list[Message]:
    """Messages by id (unknown ids ignored)."""
    ids = list(ids)
    found: list[Message] = []
    for part in chunks(ids):
        found.extend(session.scalars(select(Message).where(Message.id.in_(part))))
    return found
