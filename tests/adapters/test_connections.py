"""Several connections per adapter: every message reaches the provider once, and an adapter whose provider does
not deduplicate never has more than `connections` messages sent but not yet taken by the dispatcher."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from channel_adapters.sms_gateway import SmsGatewayAdapter
from channel_adapters.smtp import SmtpAdapter
from omnibill.dispatch.pacing import PacedAdapter
from tests.adapters.helpers import outbound


def held(sandbox, channel: str, tag: str) -> Counter:
    """Deliveries of the test's messages the sandbox recorded (repeats counted)."""
    return Counter(r.idempotency_key.removesuffix("@omnibill") for r in sandbox.ledger.list(channel)
                   if r.idempotency_key.startswith(tag))


@pytest.mark.parametrize("make, channel, recipient", [
    (lambda s: SmtpAdapter(s.smtp, connections=4), "email", "anna@example.test"),
    (lambda s: SmsGatewayAdapter(s.gateway, connections=4), "sms", "+46701234567"),
])
def test_several_connections_send_every_message_once_across_batches(settings, sandbox, tag, make, channel,
                                                                     recipient):
    adapter = make(settings)
    batches = [[outbound(channel, tag, i, recipient) for i in range(start, start + 15)] for start in (0, 15)]
    try:
        results = [r for batch in batches for r in adapter.send(batch)]  # the second batch reuses the workers
    finally:
        adapter.close()
    sent = [m.message_id for batch in batches for m in batch]
    assert sorted(r.message_id for r in results) == sorted(sent) and {r.status for r in results} == {"sent"}
    assert held(sandbox, channel, tag) == Counter(sent)


def test_smtp_sessions_stay_open_across_batches_up_to_the_connections(settings, sandbox, tag):
    adapter = SmtpAdapter(settings.smtp, connections=3)
    try:
        for start in (0, 10):
            list(adapter.send([outbound("email", tag, i, "anna@example.test") for i in range(start, start + 10)]))
        assert 1 <= len(adapter._sessions._open) <= 3
    finally:
        adapter.close()
    assert not adapter._sessions._open


@pytest.mark.parametrize("connections", [1, 3])
def test_no_more_than_connections_messages_are_in_flight_for_a_provider_that_does_not_deduplicate(
        settings, sandbox, tag, connections):
    adapter = PacedAdapter(SmtpAdapter(settings.smtp, connections=connections))  # as the dispatch task builds it
    assert not adapter.deduplicates
    batch = [outbound("email", tag, i, "anna@example.test") for i in range(24)]
    taken, most = 0, 0
    try:
        for result in adapter.send(batch):
            # Accepted by the provider but not yet recorded by us (this result included): what a crash repeats.
            most = max(most, sum(held(sandbox, "email", tag).values()) - taken)
            time.sleep(0.01)  # a dispatcher recording the result: the workers must wait, not race ahead
            taken += 1
            assert result.status == "sent"
    finally:
        adapter.close()
    assert taken == len(batch) and sum(held(sandbox, "email", tag).values()) == len(batch)
    assert 1 <= most <= connections
    if connections > 1:
        assert most > 1  # several were really in flight at once


def test_answers_that_arrived_together_can_be_recorded_together_without_more_in_flight(settings, sandbox, tag):
    connections = 3
    adapter = PacedAdapter(SmtpAdapter(settings.smtp, connections=connections))
    batch = [outbound("email", tag, i, "anna@example.test") for i in range(30)]
    recorded, waiting, most, groups = 0, 0, 0, []
    try:
        for result in adapter.send(batch):
            # Taken but not recorded yet, and sent but not taken: what a crash repeats. The dispatcher records
            # when an answer is not followed by another that is ready (as omnibill.dispatch.stage does).
            most = max(most, sum(held(sandbox, "email", tag).values()) - recorded)
            waiting += 1
            if not result.more_ready:
                time.sleep(0.03)  # writing them to the ledger: the connections finish meanwhile
                recorded, groups = recorded + waiting, groups + [waiting]
                waiting = 0
    finally:
        adapter.close()
    assert recorded == len(batch) == sum(groups) and sum(held(sandbox, "email", tag).values()) == len(batch)
    assert 1 <= most <= connections
    assert max(groups) > 1  # answers did arrive together and were written together
