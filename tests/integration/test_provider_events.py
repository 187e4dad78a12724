"""Provider events (pushed or polled) applied to the ledger: once each, in any order, never undoing a read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from channel_adapters.base import ReceiptEvent
from omnibill.decide.stage import plan_fallbacks
from omnibill.ledger.decisions import suppressed_hashes
from omnibill.ledger.models import Message, MessageEvent, ProviderEvent, Receipt
from omnibill.ledger.repository import messages_in, messages_without_fallback, set_states
from omnibill.receipts.apply import apply_pending, take_events
from tests.integration.test_dispatch_ledger import KEY, RULES, _prepare, ledger  # noqa: F401 (fixture)

AT = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def _sent(ledger, n=3) -> tuple[object, list[str]]:
    run = _prepare(ledger, n)
    with ledger.transaction() as s:
        ids = sorted(m.id for m in messages_in(s, run.id, states=("rendered",)))
        set_states(s, [{"id": i, "from_state": "rendered", "state": "sent", "reason": "sent"} for i in ids])
    return run, ids


def _message(ledger, message_id) -> Message:
    with ledger.read() as s:
        return s.get(Message, message_id)


def test_the_same_event_twice_is_applied_once(ledger):
    run, (first, *_) = _sent(ledger)
    event = ReceiptEvent(first, "delivered", event_id="dlr-1", at=AT)
    with ledger.transaction() as s:
        assert take_events(s, "46elks", [event])["delivered"] == 1
    with ledger.transaction() as s:
        again = take_events(s, "46elks", [event])
    assert again["duplicate"] == 1 and again["delivered"] == 0
    with ledger.read() as s:
        assert s.query(Receipt).filter_by(message_id=first).count() == 1
        assert s.query(ProviderEvent).count() == 1
    assert _message(ledger, first).state == "delivered"


def test_a_late_delivered_never_undoes_read_and_no_failure_follows_a_read(ledger):
    run, (first, second, _) = _sent(ledger)
    with ledger.transaction() as s:  # read arrives first, then delivered, then a (bogus) failure
        take_events(s, "kivra", [ReceiptEvent(first, "read", event_id="r1", at=AT)])
        take_events(s, "kivra", [ReceiptEvent(first, "delivered", event_id="d1", at=AT - timedelta(minutes=5))])
        take_events(s, "kivra", [ReceiptEvent(first, "failed", event_id="f1", at=AT)])
    m = _message(ledger, first)
    assert m.state == "delivered" and m.opened_at is not None
    with ledger.transaction() as s:  # delivered first, then read: the same end
        take_events(s, "kivra", [ReceiptEvent(second, "delivered", event_id="d2"),
                                 ReceiptEvent(second, "read", event_id="r2", at=AT)])
    m = _message(ledger, second)
    assert m.state == "delivered" and m.opened_at is not None


def test_an_event_before_the_send_was_recorded_waits_for_it(ledger):
    run = _prepare(ledger, 1)
    with ledger.transaction() as s:
        [m] = messages_in(s, run.id, states=("rendered",))
        set_states(s, [{"id": m.id, "from_state": "rendered", "state": "sending", "reason": "claimed"}])
    with ledger.transaction() as s:  # the provider called back before the dispatcher wrote "sent"
        assert take_events(s, "46elks", [ReceiptEvent(m.id, "delivered", event_id="early")])["delivered"] == 0
    with ledger.transaction() as s:
        set_states(s, [{"id": m.id, "from_state": "sending", "state": "sent", "reason": "accepted"}])
        assert apply_pending(s)["delivered"] == 1
    assert _message(ledger, m.id).state == "delivered"


def test_a_hard_bounce_fails_the_message_suppresses_the_address_and_plans_a_letter(ledger):
    run, (first, second, _) = _sent(ledger)
    with ledger.transaction() as s:
        take_events(s, "smtp", [ReceiptEvent(first, "bounced", "5.1.1 user unknown", event_id="dsn-1"),
                                ReceiptEvent(second, "bounced", "4.2.2 mailbox full", event_id="dsn-2",
                                             permanent=False)])
    hard, soft = _message(ledger, first), _message(ledger, second)
    assert (hard.state, hard.permanent) == ("failed", True) and (soft.state, soft.permanent) == ("failed", False)
    with ledger.transaction() as s:
        assert plan_fallbacks(s, run, messages_without_fallback(s, run.id), RULES, hash_key=KEY) == 1
        letter = s.query(Message).filter_by(fallback_of=first).one()
        assert letter.channel == "print"
        assert suppressed_hashes(s, "demo", [hard.address_hash]) and not suppressed_hashes(s, "demo", [soft.address_hash])


def test_a_soft_bounce_then_a_delivery_in_one_call_are_both_recorded(ledger):
    run, (first, *_) = _sent(ledger)
    with ledger.transaction() as s:  # two moves of one message in one call: two rounds of writes
        counts = take_events(s, "smtp", [ReceiptEvent(first, "bounced", "4.2.2 mailbox full", event_id="soft",
                                                      permanent=False),
                                         ReceiptEvent(first, "delivered", event_id="late-ok")])
    assert counts["bounced"] == 1 and counts["delivered"] == 1
    with ledger.read() as s:
        moves = [(e.from_state, e.to_state) for e in s.query(MessageEvent).filter_by(message_id=first)
                 .order_by(MessageEvent.id)]
        assert moves[-2:] == [("sent", "failed"), ("failed", "delivered")]
        assert [r.status for r in s.query(Receipt).filter_by(message_id=first).order_by(Receipt.id)] == [
            "bounced", "delivered"]
        assert s.query(ProviderEvent).filter(ProviderEvent.applied_at.is_(None)).count() == 0
    assert _message(ledger, first).state == "delivered"


def test_many_events_are_written_in_a_few_statements_not_one_per_event(ledger):
    run, ids = _sent(ledger, 60)
    events = [ReceiptEvent(i, "delivered", event_id=f"d-{i}") for i in ids]
    events += [ReceiptEvent(i, "read", event_id=f"r-{i}", at=AT) for i in ids[:30]]
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    sa.event.listen(ledger.engine, "before_cursor_execute", listen)
    try:
        with ledger.transaction() as s:
            counts = take_events(s, "kivra", events)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", listen)
    assert counts["delivered"] == 60 and counts["opened"] == 30
    assert len(statements) < 25, statements  # 90 events: one statement each would be hundreds
    with ledger.read() as s:
        assert s.query(Message).filter(Message.id.in_(ids), Message.state == "delivered").count() == 60
        assert s.query(Message).filter(Message.id.in_(ids), Message.opened_at.is_not(None)).count() == 30
        assert s.query(Receipt).filter(Receipt.message_id.in_(ids)).count() == 90
