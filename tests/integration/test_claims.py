"""Never twice, never stranded: claims on messages and on runs, on SQLite and PostgreSQL.

Two dispatchers of one batch start at the same moment against the sandbox SMTP server; the server's
own count of deliveries (total against unique Message-IDs) shows that each message went out once.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from channel_adapters.base import ChannelAdapter
from channel_adapters.registry import build_adapter
from config.settings import get_settings
from omnibill.dispatch.stage import BatchHadTransientFailures, run_dispatch
from omnibill.ledger.repository import claim_messages, messages_in, set_states
from omnibill.ledger.runs import find_run
from omnibill.runs import RunActive, hold_run
from omnibill.store import LocalStore
from tests.conftest import sandbox_for_test
from tests.integration.test_dispatch_ledger import _prepare, ledger  # noqa: F401  (fixture)

N = 40


class Chunked(ChannelAdapter):
    """A real adapter sending in small chunks, so that two dispatchers interleave claim by claim."""

    channel = "email"
    max_batch = 5
    body_maxlen = None

    def __init__(self, inner: ChannelAdapter):
        self.inner = inner

    def send_batch(self, messages):
        return self.inner.send_batch(messages)

    def close(self):
        self.inner.close()


def _dispatch_together(ledger, run, tmp_path, dispatchers: int = 2) -> list[Counter]:
    """Start `dispatchers` dispatches of email batch 0 at the same moment; their outcomes."""
    start = threading.Barrier(dispatchers)
    outcomes: list[Counter] = []
    errors: list[BaseException] = []

    def one() -> None:
        adapter = Chunked(build_adapter("email", get_settings()))
        try:
            start.wait()
            outcomes.append(run_dispatch(ledger, run, "email", 0, adapter, LocalStore(tmp_path)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            adapter.close()

    threads = [threading.Thread(target=one) for _ in range(dispatchers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return outcomes


def test_two_dispatchers_started_together_deliver_each_message_once(ledger, tmp_path, omnibill_env, monkeypatch):
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        run = _prepare(ledger, N)
        outcomes = _dispatch_together(ledger, run, tmp_path)
        assert box.ledger.count("email", unique=False) == N  # every delivery the SMTP server took
        assert box.ledger.count("email", unique=True) == N
    assert sum(o["sent"] for o in outcomes) == N  # the two split the batch, neither sent the other's
    with ledger.transaction() as s:
        sent = messages_in(s, run.id, states=("sent",))
    assert len(sent) == N and {m.attempts for m in sent} == {1}
    assert len({m.claimed_by for m in sent}) <= 2


def test_a_dispatcher_started_while_another_is_sending_leaves_its_chunk_alone(ledger, tmp_path, omnibill_env,
                                                                            monkeypatch):
    """A second dispatcher (a rerun, a Prefect retry of a task still alive) starts while the first has a
    chunk at the provider: the chunk is claimed, so the second sends only what nobody holds."""
    a_sending, b_done = threading.Event(), threading.Event()

    class Paused(Chunked):
        def send_batch(self, messages):
            if not a_sending.is_set():
                a_sending.set()
                b_done.wait(60)
            return self.inner.send_batch(messages)

    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        run = _prepare(ledger, N)
        outcome_a: list[Counter] = []

        def first() -> None:
            adapter = Paused(build_adapter("email", get_settings()))
            try:
                outcome_a.append(run_dispatch(ledger, run, "email", 0, adapter, LocalStore(tmp_path)))
            finally:
                adapter.close()

        thread = threading.Thread(target=first)
        thread.start()
        assert a_sending.wait(30)
        adapter = Chunked(build_adapter("email", get_settings()))
        try:
            outcome_b = run_dispatch(ledger, run, "email", 0, adapter, LocalStore(tmp_path))
        finally:
            adapter.close()
            b_done.set()
        thread.join(60)
        assert box.ledger.count("email", unique=False) == N and box.ledger.count("email", unique=True) == N
    assert outcome_b["sent"] == N - 5 and outcome_a[0]["sent"] == 5


def test_a_claim_is_won_once_and_lapses_only_after_its_lease(ledger):
    run = _prepare(ledger, 3)
    now = datetime.now(timezone.utc)
    with ledger.transaction() as s:
        first = claim_messages(s, run.id, "email", 0, "A", now=now, lease_until=now + timedelta(minutes=5), limit=10)
    with ledger.transaction() as s:
        second = claim_messages(s, run.id, "email", 0, "B", now=now, lease_until=now + timedelta(minutes=5), limit=10)
    assert len(first) == 3 and second == []
    later = now + timedelta(minutes=6)  # A died: its lease has lapsed
    with ledger.transaction() as s:
        taken = claim_messages(s, run.id, "email", 0, "B", now=later, lease_until=later + timedelta(minutes=5),
                               limit=10)
    assert {m.id for m in taken} == {m.id for m in first}
    # A wakes up and records its outcome: the claim is no longer A's, so nothing it says is stored
    with ledger.transaction() as s:
        moved = set_states(s, [{"id": m.id, "from_state": "sending", "claimant": "A", "state": "sent",
                                "reason": "late"} for m in first])
        assert moved == []
        assert {m.claimed_by for m in messages_in(s, run.id, states=("sending",))} == {"B"}


def test_a_state_change_from_the_wrong_state_is_not_applied(ledger):
    run = _prepare(ledger, 2)
    with ledger.transaction() as s:
        ids = [m.id for m in messages_in(s, run.id, states=("rendered",))]
        assert set_states(s, [{"id": ids[0], "from_state": "planned", "state": "sent", "reason": "x"},
                              {"id": ids[1], "from_state": "rendered", "state": "cancelled", "reason": "y"}]) \
            == [ids[1]]
        assert [m.id for m in messages_in(s, run.id, states=("rendered",))] == [ids[0]]


def test_a_message_too_long_for_its_channel_fails_permanently_unsent(ledger, tmp_path):
    run = _prepare(ledger, 1)

    class Tiny(Chunked):
        body_maxlen = 3

    class Never(ChannelAdapter):
        channel = "email"

        def send_batch(self, messages):
            raise AssertionError(f"sent {len(messages)} messages")

    (tmp_path / "t.txt").write_text("far more than three characters")
    with ledger.transaction() as s:
        m = messages_in(s, run.id, states=("rendered",))[0]
        set_states(s, [{"id": m.id, "from_state": "rendered", "state": "rendered", "content": {"text": "t.txt"},
                        "reason": "text"}])
    assert run_dispatch(ledger, run, "email", 0, Tiny(Never()), LocalStore(tmp_path)) == Counter(permanent=1)
    with ledger.transaction() as s:
        failed = messages_in(s, run.id, states=("failed",), transient_only=False)
    assert failed[0].permanent and "at most 3" in failed[0].reason


def test_one_run_per_tenant_and_period_held_in_the_ledger(ledger):
    run = _prepare(ledger, 1)
    with hold_run(ledger, "demo", "2026-11", "first", lease_s=60, create=False):
        with pytest.raises(RunActive, match=r"demo 2026-11 is active: started .* by first"):
            with hold_run(ledger, "demo", "2026-11", "second", lease_s=60, create=True):
                pass
        with ledger.transaction() as s:
            assert find_run(s, "demo", "2026-11").holder == "first"
    with hold_run(ledger, "demo", "2026-11", "second", lease_s=60, create=False) as held:
        assert held.run.id == run.id
        held.check()  # still held
        # While a flow holds a run it fills the run's tables: PostgreSQL's planner statistics are kept up with them.
        keeping = "ledger statistics" in [t.name for t in threading.enumerate()]
        assert keeping == (ledger.engine.dialect.name == "postgresql")
    assert "ledger statistics" not in [t.name for t in threading.enumerate()]
    with pytest.raises(LookupError, match="no billing run"):
        with hold_run(ledger, "demo", "2025-01", "third", lease_s=60, create=False):
            pass


def test_a_holder_whose_hold_was_taken_over_stops(ledger):
    _prepare(ledger, 1)
    from sqlalchemy import update

    from omnibill.ledger.models import BillingRun

    with hold_run(ledger, "demo", "2026-11", "stalled", lease_s=0.3, create=False) as held:
        with ledger.transaction() as s:  # it stalled past its lease and another run took the period
            s.execute(update(BillingRun).where(BillingRun.id == held.run.id).values(holder="other"))
        assert held.lost.wait(2)
        with pytest.raises(RunActive, match="lost its hold"):
            held.check()


def test_a_dead_holder_frees_the_run_when_its_lease_lapses(ledger):
    _prepare(ledger, 1)
    now = datetime.now(timezone.utc)
    from omnibill.ledger.runs import take_run

    with ledger.transaction() as s:  # a holder that died 5 minutes ago with a 2-minute lease
        assert take_run(s, "demo", "2026-11", "dead", now=now - timedelta(minutes=5),
                        held_until=now - timedelta(minutes=3), create=False)[0]
    with hold_run(ledger, "demo", "2026-11", "alive", lease_s=60, create=False) as held:
        assert held.run.holder == "alive"


def test_transient_failures_are_retried_by_the_next_dispatcher_not_by_the_same_call(ledger, tmp_path):
    from tests.integration.test_dispatch_ledger import RecordingProvider

    run = _prepare(ledger, 3)
    provider = RecordingProvider(refuse={"kund1@example.se": "transient"})
    with pytest.raises(BatchHadTransientFailures, match="1 of 3"):
        run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path))
    assert run_dispatch(ledger, run, "email", 0, provider, LocalStore(tmp_path)) == Counter(sent=1)
    assert sorted(provider.received.values()) == [1, 1, 1]
