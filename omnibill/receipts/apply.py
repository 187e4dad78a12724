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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from channel_adapters.base import ReceiptEvent
from omnibill.ledger.events import mark_applied, pending_events, store_events
from omnibill.ledger.models import ProviderEvent
from omnibill.ledger.portal import mark_opened_by_ids
from omnibill.ledger.repository import add_receipts, message_states, set_states
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
    """Apply the events that can be applied now (of these messages, or all); the rest keep waiting.

    Decided in memory, written in a few statements per chunk (the messages locked in id order first, then the
    moves in rounds, the opens, the receipts, the events marked): no statement per event.
    """
    events = pending_events(session, message_ids)
    states = message_states(session, {e.message_id for e in events if e.message_id})
    plan = _Plan(datetime.now(timezone.utc), states)
    for event in events:  # oldest first; what they do is decided per message state, so order does not matter
        plan.decide(event)
    return plan.write(session)


@dataclass
class _Step:
    """What one event does: its outcome, and the open, move and receipt that go with it."""
    event_id: int
    message_id: str
    outcome: str
    opened_at: datetime | None = None
    change: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None


class _Plan:
    """Events decided against the messages' states as the earlier events of the call leave them."""

    def __init__(self, now: datetime, states: dict[str, tuple[str, bool, bool]]) -> None:
        self.now = now
        self.state = {i: (state, permanent) for i, (state, permanent, _) in states.items()}
        self.opened = {i for i, (_, _, opened) in states.items() if opened}
        self.steps: dict[str, list[_Step]] = {}  # by message, in event order

    def decide(self, event: ProviderEvent) -> None:
        step = self._step(event)
        if step is not None:
            self.steps.setdefault(step.message_id, []).append(step)

    def _step(self, event: ProviderEvent) -> _Step | None:
        mid = event.message_id or ""
        received = event.received_at if event.received_at.tzinfo else event.received_at.replace(tzinfo=timezone.utc)
        if mid not in self.state or self.state[mid][0] in _NOT_YET:
            if self.now - received < WAIT_FOR_SEND:
                return None  # the send may not be recorded yet: try again later
            return _Step(event.id, mid, "ignored: never sent")
        at = event.at or self.now
        if event.status == "read":
            receipt = {"message_id": mid, "status": "read", "detail": at.isoformat()}
            if mid in self.opened:
                return _Step(event.id, mid, "ignored: opened before", receipt=receipt)
            self.opened.add(mid)
            return _Step(event.id, mid, "opened", opened_at=at, receipt=receipt)
        if event.status in ("delivered", "printed"):
            return self._move(event, mid, "delivered", f"delivery report: {event.status}", permanent=False)
        if mid in self.opened or self.state[mid][0] == "delivered":
            return _Step(event.id, mid, "ignored: delivered or opened before")  # never undoes a delivery or a read
        kind = "hard" if event.permanent else "soft"
        reason = f"{event.status} ({kind}): {event.detail}" if event.detail else f"{event.status} ({kind})"
        return self._move(event, mid, "failed", reason, permanent=bool(event.permanent))

    def _move(self, event: ProviderEvent, mid: str, state: str, reason: str, permanent: bool) -> _Step:
        # From `sent`; a delivery report also from a transient failure (a timeout whose message arrived after all).
        current, was_permanent = self.state[mid]
        if not (current == "sent" or (state == "delivered" and current == "failed" and not was_permanent)):
            return _Step(event.id, mid, f"ignored: {current}")
        self.state[mid] = (state, permanent)  # later events of this call see the new state
        outcome = state if state == "delivered" else ("bounced" if event.status == "bounced" else "failed")
        change = {"id": mid, "from_state": current, "state": state, "permanent": permanent, "reason": reason[:500]}
        return _Step(event.id, mid, outcome, change=change,
                     receipt={"message_id": mid, "status": event.status, "detail": event.detail})

    def write(self, session: Session) -> Counter:
        self._move_in_rounds(session)  # first: the events of a message moved meanwhile wait, its opens too
        kept = [s for theirs in self.steps.values() for s in theirs]
        opens = {s.message_id: s.opened_at for s in kept if s.opened_at is not None}
        marked = set(mark_opened_by_ids(session, opens))
        for s in kept:
            if s.opened_at is not None and s.message_id not in marked:
                s.outcome = "ignored: opened before"
        add_receipts(session, [s.receipt for s in sorted(kept, key=lambda s: s.event_id) if s.receipt])
        mark_applied(session, {s.event_id: s.outcome for s in kept})
        return Counter(s.outcome.split(":")[0] for s in kept)

    def _move_in_rounds(self, session: Session) -> None:
        """The moves, a message's first in the first round, its second in the next: one set_states per round.
        A move found already made by another writer is ignored, and the message's later events wait for the
        next call (they were decided on a state that did not come to be)."""
        todo = {mid: [s for s in theirs if s.change] for mid, theirs in self.steps.items()}
        todo = {mid: changes for mid, changes in todo.items() if changes}
        while todo:
            round_ = {mid: changes.pop(0) for mid, changes in todo.items()}
            moved = set(set_states(session, [s.change for s in round_.values()]))
            for mid, step in round_.items():
                if mid not in moved:
                    step.outcome, step.receipt, step.change = "ignored: moved meanwhile", None, None
                    theirs = self.steps[mid]
                    self.steps[mid] = theirs[:theirs.index(step) + 1]
                    todo.pop(mid)
            todo = {mid: changes for mid, changes in todo.items() if changes}
