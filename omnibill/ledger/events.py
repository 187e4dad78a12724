"""Provider events (delivery reports, read status) kept once per provider event id until applied."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun, FeedPosition, Message, ProviderEvent
from omnibill.ledger.repository import chunks, insert_ignore, upsert


def store_events(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Keep events not seen before ({provider, event_id, message_id, status, permanent, detail, at});
    the same provider event twice is kept once. Returns how many were new."""
    seen: set[tuple[str, str]] = set()
    for provider in {r["provider"] for r in rows}:
        ids = sorted({r["event_id"] for r in rows if r["provider"] == provider})
        for part in chunks(ids):
            seen.update((provider, e) for e in session.scalars(
                select(ProviderEvent.event_id).where(ProviderEvent.provider == provider,
                                                     ProviderEvent.event_id.in_(part))))
    now = datetime.now(timezone.utc)
    new = {(r["provider"], r["event_id"]): r | {"received_at": now} for r in rows
           if (r["provider"], r["event_id"]) not in seen}
    insert_ignore(session, ProviderEvent, list(new.values()))  # another writer may have kept one meanwhile
    return len(new)


def pending_events(session: Session, message_ids: Iterable[str] | None = None, limit: int = 5000
                   ) -> list[ProviderEvent]:
    """Events not yet applied (of these messages when given), oldest first.

    On PostgreSQL they are locked until the transaction ends, and those another transaction holds are skipped:
    two appliers at once (receipts of two channels, a webhook) never apply one event twice.
    """
    stmt = select(ProviderEvent).where(ProviderEvent.applied_at.is_(None)).with_for_update(skip_locked=True)
    if message_ids is None:
        return list(session.scalars(stmt.order_by(ProviderEvent.id).limit(limit)))
    found: list[ProviderEvent] = []
    for part in chunks(sorted(set(message_ids))):
        found.extend(session.scalars(stmt.where(ProviderEvent.message_id.in_(part)).order_by(ProviderEvent.id)))
    return found


def mark_applied(session: Session, outcomes: dict[int, str]) -> None:
    """Events done with, and what they did ("delivered", "opened", "ignored: …")."""
    if outcomes:
        now = datetime.now(timezone.utc)
        session.execute(update(ProviderEvent), [{"id": i, "applied_at": now, "outcome": o[:32]}
                                                for i, o in outcomes.items()])


def tenants_of_messages(session: Session, message_ids: Iterable[str]) -> dict[str, str]:
    """The tenant each message was sent for."""
    found: dict[str, str] = {}
    for part in chunks(sorted(set(message_ids))):
        stmt = select(Message.id, BillingRun.tenant).join(BillingRun, BillingRun.id == Message.run_id)
        found.update(dict(session.execute(stmt.where(Message.id.in_(part))).all()))
    return found


def message_by_provider_ref(session: Session, provider_ref: str) -> str | None:
    """Our message id for the provider's reference to it (for providers that never see our id)."""
    return session.scalar(select(Message.id).where(Message.provider_ref == provider_ref).limit(1))


def awaiting_reports(session: Session, run_id: str, channel: str) -> list[tuple[str, str, datetime]]:
    """A run's messages in a channel sent (accepted) and without a final report yet: (id, provider ref, when)."""
    stmt = (select(Message.id, Message.provider_ref, Message.updated_at)
            .where(Message.run_id == run_id, Message.channel == channel, Message.state == "sent",
                   Message.provider_ref.is_not(None)))
    return [tuple(row) for row in session.execute(stmt)]


def feed_positions(session: Session, tenant: str) -> dict[str, str]:
    """How far the tenant's receipts stage has read each provider's event feed, by provider."""
    rows = session.execute(select(FeedPosition.provider, FeedPosition.position).where(FeedPosition.tenant == tenant))
    return {provider: position for provider, position in rows}


def save_feed_positions(session: Session, tenant: str, positions: dict[str, str]) -> None:
    """Record how far feeds were read; call it in the transaction that keeps the events read."""
    now = datetime.now(timezone.utc)
    upsert(session, FeedPosition, [{"tenant": tenant, "provider": provider, "position": position, "updated_at": now}
                                   for provider, position in positions.items()],
           keys=("tenant", "provider"), columns=("position", "updated_at"))
