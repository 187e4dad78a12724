"""The ledger's guarantees around dispatch, on SQLite and PostgreSQL: never twice, never dropped.

A recording adapter stands in for the provider here so that failures can be placed exactly;
tests/integration/test_run_end_to_end.py does the same over the real protocols.
"""

from __future__ import annotations

import time

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from channel_adapters.base import ChannelAdapter, DispatchResult
from config.tenant import load_tenant
from omnibill.decide.stage import decide_batch, plan_fallbacks
from omnibill.dispatch.stage import BatchHadTransientFailures, run_dispatch
from omnibill.extract.results import ValidatedExtract
from omnibill.extract.stage import store_extract
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import Message
from omnibill.ledger.repository import messages_in, messages_without_fallback, set_states
from omnibill.ledger.runs import open_run
from omnibill.model import BillingDocument, InvoiceLine, Party, document_key
from omnibill.reconcile.status import status_rows
from omnibill.store import LocalStore
from tests.conftest import REPO

KEY = b"test address key"  # the tenant address key (settings hold the real secret)

RULES = load_tenant("demo", REPO / "config" / "tenants")


class RecordingProvider(ChannelAdapter):
    """Accepts everything except what it is told to refuse; counts what it received by message id."""

    channel = "any"
    max_batch = 2

    def __init__(self, refuse: dict[str, str] | None = None, crash_after: int | None = None):
        self.received: Counter = Counter()
        self.refuse = dict(refuse or {})
        self.crash_after = crash_after

    def send_batch(self, messages):
        results = []
        for m in messages:
            kind = self.refuse.pop(m.recipient, None)
            if kind:
                results.append(DispatchResult(m.message_id, "failed", error=f"{kind} refusal for {m.recipient}",
                                              permanent=kind == "permanent"))
                continue
            self.received[m.message_id] += 1
            results.append(DispatchResult(m.message_id, "sent", provider_ref=f"ref-{m.message_id[:6]}"))
            if self.crash_after is not None and sum(self.received.values()) >= self.crash_after:
                self.crash_after = None
                raise SystemExit("worker killed after the provider accepted")
        return results


def _party(cid: str, email: str | None) -> Party:
    return Party(customer_id=cid, customer_type="person", name=f"Kund {cid}", country="SE", language="sv",
                 email=email, street="Storgatan 1", postal_code="111 22", city="Stockholm")


def _extract(n: int) -> ValidatedExtract:
    customers = {f"C{i}": _party(f"C{i}", f"kund{i}@example.se") for i in range(n)}
    line = InvoiceLine(1, "El", Decimal("1"), "st", Decimal("100"), Decimal("25"), Decimal("100"))
    docs = [BillingDocument(document_key("demo", "2026-11", f"INV-{i}"), f"INV-{i}", "invoice", "2026-11",
                            date(2026, 11, 1), date(2026, 12, 1), "SEK", Decimal("100"), Decimal("25"),
                            Decimal("125"), "1234566", customers[f"C{i}"], (line,)) for i in range(n)]
    consents = {cid: {"invoice": {"email": {"status": "opt_in", "recorded_at": "2025-01-01", "source": "web"}}}
                for cid in customers}
    return ValidatedExtract(customers, docs, consents, [], n, {})


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")
    db = Ledger(url)
    yield db
    db.dispose()


def _prepare(ledger: Ledger, n: int = 5):
    with ledger.transaction() as s:
        run = open_run(s, "demo", "2026-11", "memory")
        store_extract(s, run.id, _extract(n), batch_size=100)
        decide_batch(s, run, 0, RULES, hash_key=KEY)
        planned = messages_in(s, run.id, states=("planned",))
        set_states(s, [{"id": m.id, "from_state": "planned", "state": "rendered", "content": {}} for m in planned])
    return run


def _sent(ledger, run) -> int:
    with ledger.transaction() as s:
        return len(messages_in(s, run.id, states=("sent",)))


def test_second_dispatch_sends_nothing(ledger, tmp_path):
    run = _prepare(ledger)
    provider = RecordingProvider()
    run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    assert len(provider.received) == 5 and set(provider.received.values()) == {1}
    assert _sent(ledger, run) == 5


def test_transient_failure_is_retried_alone(ledger, tmp_path):
    run = _prepare(ledger)
    provider = RecordingProvider(refuse={"kund3@example.se": "transient"})
    with pytest.raises(BatchHadTransientFailures, match="1 of 5"):
        run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    assert _sent(ledger, run) == 4
    outcome = run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    assert outcome == Counter(sent=1)
    assert len(provider.received) == 5 and set(provider.received.values()) == {1}


def test_permanent_failure_plans_the_next_channel(ledger, tmp_path):
    run = _prepare(ledger)
    provider = RecordingProvider(refuse={"kund2@example.se": "permanent"})
    run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    with ledger.transaction() as s:
        failed = messages_without_fallback(s, run.id)
        assert [m.channel for m in failed] == ["email"] and failed[0].permanent
        assert plan_fallbacks(s, run, failed, RULES, hash_key=KEY) == 1
        assert plan_fallbacks(s, run, messages_without_fallback(s, run.id), RULES, hash_key=KEY) == 0
        rows = [r for r in status_rows(s, run) if r["document_id"] == "INV-2"]
    assert [(r["channel"], r["state"]) for r in rows] == [("email", "rejected"), ("print", "planned")]
    assert "failed permanently" in rows[1]["reason"] and "kund2@example.se" not in rows[0]["reason"]


def test_crash_after_provider_accepted_resends_with_the_same_key_once_the_claim_lapses(ledger, tmp_path):
    run = _prepare(ledger)
    provider = RecordingProvider(crash_after=1)
    with pytest.raises(SystemExit):
        run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path), lease_s=1.0)
    with ledger.transaction() as s:
        stuck = messages_in(s, run.id, states=("sending",))
    assert len(stuck) == 2  # the chunk in flight: one accepted, one not yet
    # while the dead dispatcher's lease holds, nobody else touches its chunk
    assert run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path)) == Counter(sent=3)
    assert len(provider.received) == 4
    time.sleep(1.1)
    run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    # the provider saw the accepted one again under the same idempotency key and nothing else twice
    assert len(provider.received) == 5
    assert sorted(provider.received.values()) == [1, 1, 1, 1, 2]
    assert _sent(ledger, run) == 5
    with ledger.transaction() as s:
        events = s.query(Message).count()
    assert events == 5


def _in_the_mailbox(ledger: Ledger, run, box) -> list[str]:
    """The run's rendered messages as sent, and in the sandbox mailbox gateway's keeping; their ids."""
    with ledger.transaction() as s:
        ids = [m.id for m in messages_in(s, run.id, states=("rendered",))]
        set_states(s, [{"id": i, "from_state": "rendered", "state": "sent", "reason": "sent"} for i in ids])
    for i in ids:
        box.ledger.record("mailbox", i, "kivra:masked", "Faktura", b"%PDF-1.7", ".pdf")
    return ids


def test_mailbox_read_status_marks_the_message_opened_once(ledger, tmp_path, omnibill_env, monkeypatch):
    """The mailbox provider reports a read (as Kivra and Digipost do): `opened_at` is stored, once."""
    from channel_adapters.digital_mailbox import DigitalMailboxAdapter
    from config.settings import get_settings
    from omnibill.receipts.stage import run_receipts
    from tests.conftest import sandbox_for_test

    run = _prepare(ledger, 2)
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        ids = _in_the_mailbox(ledger, run, box)
        import httpx

        gateway = get_settings().gateway.mailbox_url.removesuffix("/mailbox")
        assert httpx.post(f"{gateway}/_sandbox/mailbox/read", json={"keys": ids[:1]}).json() == {"read": 1}
        adapter = DigitalMailboxAdapter(get_settings().gateway)
        try:
            assert run_receipts(ledger, run, adapter) == 1
            assert run_receipts(ledger, run, DigitalMailboxAdapter(get_settings().gateway)) == 0  # once
        finally:
            adapter.close()
    with ledger.transaction() as s:
        opened = {m.id: m.opened_at for m in messages_in(s, run.id, states=("sent",))}
    assert opened[ids[0]] is not None and opened[ids[1]] is None


def _count_polls(adapter, fetched: list) -> None:
    """Keep what the mailbox gateway's feed gives each poll of the adapter."""
    polled = adapter.receipts_by_provider

    def counted():
        found = polled()
        fetched.append(found["mailbox-gateway"])
        return found

    adapter.receipts_by_provider = counted


def test_each_poll_reads_the_event_feed_on_from_where_the_last_one_stopped(ledger, omnibill_env, monkeypatch):
    """A receipts stage in a new process (a new adapter: the mailbox channel's route over every mailbox provider,
    as the flow builds it) is given the feed positions the ledger kept: it reads only what the providers
    reported since, not their whole feeds again."""
    import httpx

    from config.settings import get_settings
    from omnibill import wiring
    from omnibill.ledger.events import feed_positions
    from omnibill.receipts.stage import run_receipts
    from tests.conftest import sandbox_for_test

    monkeypatch.setattr("omnibill.receipts.stage.EVENTS_PER_TRANSACTION", 1)  # the first poll: two transactions
    run = _prepare(ledger, 3)
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        ids = _in_the_mailbox(ledger, run, box)
        read = f"{get_settings().gateway.mailbox_url.removesuffix('/mailbox')}/_sandbox/mailbox/read"
        polls = []
        for keys in (ids[:2], [], ids[2:]):
            if keys:
                assert httpx.post(read, json={"keys": keys}).json() == {"read": len(keys)}
            adapter, fetched = wiring.adapter("mailbox", tenant="demo"), []
            _count_polls(adapter, fetched)
            try:
                polls.append((run_receipts(ledger, run, adapter), len(fetched[0])))
            finally:
                adapter.close()
    assert polls == [(2, 2), (0, 0), (1, 1)]  # (messages changed, events the gateway's feed gave) per poll
    with ledger.read() as s:
        positions = feed_positions(s, "demo")
    assert positions["mailbox-gateway"] == "3" and {"kivra", "eboks", "digipost"} <= set(positions)


class OneAtATime(ChannelAdapter):
    """A provider that cannot recognise a resend (like SMTP): checks that each earlier answer is in the ledger."""

    channel = "any"
    max_batch = 10
    deduplicates = False

    def __init__(self, ledger: Ledger, die_at: int):
        self.ledger, self.die_at, self.received = ledger, die_at, []

    def send(self, messages):
        for m in messages:
            if self.received:
                with self.ledger.read() as s:  # the answer before this one is written before this one is sent
                    assert s.get(Message, self.received[-1]).state == "sent"
            self.received.append(m.message_id)
            if len(self.received) == self.die_at:
                raise SystemExit("the worker died with this message at the provider")
            yield DispatchResult(m.message_id, "sent")


def test_without_a_resend_check_each_outcome_is_recorded_before_the_next_send(ledger, tmp_path):
    run = _prepare(ledger, 5)
    provider = OneAtATime(ledger, die_at=3)
    with pytest.raises(SystemExit):
        run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    with ledger.read() as s:
        states = Counter(s.get(Message, i).state for i in provider.received)
    assert states == Counter({"sent": 2, "sending": 1})  # a crash repeats at most the one in flight


def test_only_providers_asked_about_each_message_are_handed_the_sent_ones(ledger, tmp_path):
    """The receipts stage reads a run's sent messages (hundreds of thousands after a large run's first round) only
    for a provider that is asked about each (46elks, Twilio), through the pacing and routing wrappers too."""
    from channel_adapters.elks import ElksAdapter
    from channel_adapters.kivra import KivraAdapter
    from channel_adapters.routing import RoutedAdapter
    from omnibill.dispatch.pacing import PacedAdapter
    from omnibill.receipts.stage import run_receipts

    class Asked(RecordingProvider):
        channel = "email"
        asks_each_message = True

        def awaiting(self, sent):
            self.asked = list(sent)

    class Reporting(Asked):
        asks_each_message = False

    run = _prepare(ledger, 3)
    assert run_dispatch(ledger, run, "email", 0, RecordingProvider(), LocalStore(tmp_path)) == Counter(sent=3)
    asked, reporting = Asked(), Reporting()
    run_receipts(ledger, run, PacedAdapter(asked))
    run_receipts(ledger, run, reporting)
    with ledger.read() as s:
        sent = {m.id: m.provider_ref for m in messages_in(s, run.id, states=("sent",))}
    assert {message_id: ref for message_id, ref, _ in asked.asked} == sent and len(sent) == 3
    assert not hasattr(reporting, "asked")
    routed = {name: RoutedAdapter("sms", lambda m: name, lambda n: None, {name: cls}).asks_each_message
              for name, cls in (("46elks", ElksAdapter), ("kivra", KivraAdapter))}
    assert routed == {"46elks": True, "kivra": False}
