"""Provider events applied to messages: once per event, in any order, never undoing what came later.

A delivery report moves a `sent` message to `delivered`; a hard failure or bounce moves it to
`failed` (permanent: the fallback chain and the suppression list take over); a soft one to
`failed` transient (a rerun sends it again); a read marks it opened. An event that arrives before
the dispatcher recorded the send (the message is still `sending`, or not yet known) waits and is
applied by the next call. A late `delivered` never undoes `read`, and no failure is applied to a
message the recipient has opened or that was delivered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from channel_adapters.base import ReceiptEvent
from omnibill.ledger.events import mark_applied, pending_events, store_events
from omnibill.ledger.models import Message, ProviderEvent
from omnibill.ledger.portal import mark_opened_by_ids
from omnibill.ledger.repository import add_receipts, messages_by_ids, set_states
from omnibill.privacy import scrub

WAIT_FOR_SEND = timedelta(days=2)  # an event for a message never recorded as sent is kept this long
_NOT_YET = ("sending", "rendered", "planned", "scheduled", "held")


def take_events(session: Session, provider: str, events: Sequence[ReceiptEvent]) -> Counter:
    """Keep each event once, then apply every pending event of the messages concerned."""
    rows = [{"provider": provider, "event_id": (e.event_id or f"{e.status}:{e.message_id}")[:160],
             "message_id": e.message_id, "status": e.status, "permanent": e.permanent,
             "detail": scrub(e.detail)[:500] if e.detail else None, "at": e.at} for e in events]
    counts = Counter(new=store_events(session, rows))
    counts["duplicate"] = len(rows) - counts["new"]
    counts.update(apply_pending(session, {e.message_id for e in events}))
    return counts


def apply_pending(session: Session, message_ids: set[str] | None = None) -> Counter:
    """Apply the events that can be applied now (of these messages, or all); the rest keep waiting."""
    events = pending_events(session, message_ids)
    messages = {m.id: m for m in messages_by_ids(session, {e.message_id for e in events if e.message_id})}
    now = datetime.now(timezone.utc)
    done: dict[int, str] = {}
    for event in events:  # oldest first; what they do is decided per message state, so order does not matter
        outcome = _apply(session, event, messages.get(event.message_id or ""), now)
        if outcome:
            done[event.id] = outcome
    mark_applied(session, done)
    return Counter(o.split(":")[0] for o in done.values())


def _apply(session: Session, event: ProviderEvent, message: Message | None, now: datetime) -> str | None:
    received = event.received_at if event.received_at.tzinfo else event.received_at.replace(tzinfo=timezone.utc)
    if message is None or message.state in _NOT_YET:
        if now - received < WAIT_FOR_SEND:
            return None  # the send may not be recorded yet: try again later
        return "ignored: never sent"
    at = event.at or now
    if event.status == "read":
        opened = mark_opened_by_ids(session, {message.id: at})
        _receipt(session, message, "read", at.isoformat())
        return "opened" if opened else "ignored: opened before"
    if event.status in ("delivered", "printed"):
        return _move(session, message, "delivered", f"delivery report: {event.status}", event, permanent=False)
    if message.opened_at is not None or message.state == "delivered":
        return "ignored: delivered or opened before"  # a late failure never undoes a delivery or a read
    kind = "hard" if event.permanent else "soft"
    reason = f"{event.status} ({kind}): {event.detail}" if event.detail else f"{event.status} ({kind})"
    return _move(session, message, "failed", reason, event, permanent=event.permanent)


def _move(session: Session, message: Message, state: str, reason: str, event: ProviderEvent,
          permanent: bool) -> str:
    # From `sent`; a delivery report also from a transient failure (a timeout whose message arrived after all).
    if not (message.state == "sent" or (state == "delivered" and message.state == "failed" and not message.permanent)):
        return f"ignored: {message.state}"
    moved = set_states(session, [{"id": message.id, "from_state": message.state, "state": state,
                                  "permanent": permanent, "reason": reason[:500]}])
    if not moved:
        return "ignored: moved meanwhile"
    message.state = state  # later events of this call see the new state
    _receipt(session, message, event.status, event.detail)
    return state if state == "delivered" else ("bounced" if event.status == "bounced" else "failed")


def _receipt(session: Session, message: Message, status: str, detail: str | None) -> None:
    add_receipts(session, [{"message_id": message.id, "status": status, "detail": detail}])
