"""All ledger queries. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnibill.ledger.models import (BillingRun, Customer, DispatchAttempt, Document, Message, MessageEvent,
                                    QuarantinedRow, Receipt)
from omnibill.model import stable_id

# What dispatch (and a rerun) picks up: rendered, left in flight by a crash, or failed transiently.
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


def open_run(session: Session, tenant: str, period: str, source: str) -> BillingRun:
    """The run of a tenant's period, created on first use; counts each execution."""
    run_id = stable_id("run", tenant, period)
    run = session.get(BillingRun, run_id)
    if run is None:
        run = BillingRun(id=run_id, tenant=tenant, period=period, source=source, executions=0)
        session.add(run)
    run.executions += 1
    run.status = "running"
    run.source = source
    session.flush()
    return run


def find_run(session: Session, tenant: str, period: str) -> BillingRun | None:
    """The run of a tenant's period, if any."""
    return session.get(BillingRun, stable_id("run", tenant, period))


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


def set_states(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Move messages to new states, recording each transition with its cause.

    Each change: {"id", "from_state", "state", "reason", ...extra Message columns}.
    """
    if not changes:
        return
    now = datetime.now(timezone.utc)
    rows = [{k: v for k, v in c.items() if k != "from_state"} | {"updated_at": now} for c in changes]
    session.execute(update(Message), rows)
    session.execute(MessageEvent.__table__.insert(), [
        {"message_id": c["id"], "from_state": c.get("from_state"), "to_state": c["state"],
         "reason": c.get("reason"), "at": now} for c in changes])


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
