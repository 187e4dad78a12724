"""The ledger's bulk writes, on SQLite and PostgreSQL: a state moves only from the expected state and claim,
each move leaves its event, attempts are closed, decisions stored; and two claimers never take one message."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import String, func, literal, select, text, true, update

from omnibill.ledger.db import Ledger
from omnibill.ledger.decisions import write_decisions
from omnibill.ledger.models import DispatchAttempt, Document, Message, MessageEvent
from omnibill.ledger.repository import (add_messages, claim_messages, finish_attempts, insert_ignore, messages_in, set_states,
                                        start_attempts)
from tests.integration.test_dispatch_ledger import _prepare, ledger  # noqa: F401  (fixture)

N = 12
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _events(session, message_ids) -> dict[str, list[tuple[str | None, str, str | None]]]:
    found: dict[str, list] = {}
    stmt = (select(MessageEvent.message_id, MessageEvent.from_state, MessageEvent.to_state, MessageEvent.reason)
            .where(MessageEvent.message_id.in_(list(message_ids))).order_by(MessageEvent.id))
    for mid, before, after, reason in session.execute(stmt):
        found.setdefault(mid, []).append((before, after, reason))
    return found


def _claimed(ledger, run, claimant: str, limit: int = N) -> list[Message]:
    with ledger.transaction() as s:
        now = datetime.now(timezone.utc)
        return claim_messages(s, run.id, "email", 0, claimant, now=now, lease_until=now + timedelta(minutes=5),
                              limit=limit)


def test_states_move_only_from_the_expected_state_and_claim(ledger):
    run = _prepare(ledger, N)
    claimed = _claimed(ledger, run, "me")
    ids, cost_before = [m.id for m in claimed], {m.id: m.cost for m in claimed}
    assert len(ids) == N and Decimal("0.25") not in cost_before.values()
    ok, wrong_state, wrong_claimant = ids[:8], ids[8:10], ids[10:]
    changes = ([{"id": i, "from_state": "sending", "claimant": "me", "state": "sent", "reason": "accepted",
                 "provider_ref": f"ref-{i[:6]}", "lease_until": None} | ({"cost": Decimal("0.25")} if n % 2 else {})
                for n, i in enumerate(ok)]
               + [{"id": i, "from_state": "rendered", "state": "sent", "reason": "stale"} for i in wrong_state]
               + [{"id": i, "from_state": "sending", "claimant": "someone else", "state": "sent",
                   "reason": "lapsed"} for i in wrong_claimant]
               + [{"id": "no-such-message", "from_state": "sending", "state": "sent", "reason": "unknown"}])
    with ledger.transaction() as s:
        moved = set_states(s, changes)
    assert moved == ok  # in the order asked, nothing else
    with ledger.read() as s:
        by_id = {m.id: m for m in s.scalars(select(Message).where(Message.run_id == run.id))}
        events = _events(s, ids)
    for n, i in enumerate(ok):
        m = by_id[i]
        assert (m.state, m.reason, m.provider_ref, m.lease_until) == ("sent", "accepted", f"ref-{i[:6]}", None)
        assert m.cost == (Decimal("0.25") if n % 2 else cost_before[i])  # a column a change leaves out is kept
        assert m.claimed_by == "me" and m.attempts == 1
        assert events[i][-1] == ("sending", "sent", "accepted")
    for i in wrong_state + wrong_claimant:
        assert by_id[i].state == "sending" and by_id[i].provider_ref is None
        assert events[i][-1][1] == "sending"  # no event for a change that was not made
    assert sum(len(e) for e in events.values()) == 3 * N + len(ok)  # planned, rendered, sending; sent


def test_columns_set_to_null_and_json_in_one_chunk(ledger):
    run = _prepare(ledger, N)
    with ledger.read() as s:
        rendered = messages_in(s, run.id, states=("rendered",))
    with ledger.transaction() as s:
        moved = set_states(s, [{"id": m.id, "from_state": "rendered", "state": "scheduled", "not_before": LATER,
                                "content": {"pdf": f"k/{m.id}.pdf"}, "claimed_by": None, "lease_until": None}
                               for m in rendered])
    assert len(moved) == N
    with ledger.read() as s:
        stored = messages_in(s, run.id, states=("scheduled",))
        events = _events(s, moved)
    assert {(m.not_before.replace(tzinfo=timezone.utc), m.claimed_by) for m in stored} == {(LATER, None)}
    assert all(m.content == {"pdf": f"k/{m.id}.pdf"} for m in stored)
    assert all(e[-1] == ("rendered", "scheduled", None) for e in events.values())


def test_attempts_are_recorded_and_closed(ledger):
    run = _prepare(ledger, N)
    claimed = _claimed(ledger, run, "me")
    with ledger.transaction() as s:
        numbers = start_attempts(s, claimed)
    assert numbers == {m.id: m.attempts + 1 for m in claimed}
    closed = claimed[: N - 2]  # two stay open: finishing some attempts touches no other
    with ledger.transaction() as s:
        finish_attempts(s, [{"message_id": m.id, "attempt_no": numbers[m.id],
                             "outcome": "sent" if n % 3 else "permanent",
                             "error": None if n % 3 else "unknown user", "permanent": not n % 3}
                            for n, m in enumerate(closed)])
    with ledger.read() as s:
        attempts = {a.message_id: a for a in s.scalars(select(DispatchAttempt))}
    assert len(attempts) == N
    for n, m in enumerate(closed):
        a = attempts[m.id]
        assert (a.outcome, a.error, a.permanent) == (("sent", None, False) if n % 3
                                                     else ("permanent", "unknown user", True))
        assert a.finished_at is not None
    assert all(attempts[m.id].outcome == "sending" and attempts[m.id].finished_at is None for m in claimed[N - 2:])


def test_decisions_and_inserts_are_stored_once(ledger):
    run = _prepare(ledger, 4)
    now = datetime.now(timezone.utc)
    with ledger.read() as s:
        docs = list(s.scalars(select(Document).where(Document.run_id == run.id).order_by(Document.id)))
    with ledger.transaction() as s:
        write_decisions(s, [{"id": d.id, "decision": "print", "decision_reason": f"why {n}", "decided_at": now}
                            | ({"decision_rules": '["r1"]'} if n % 2 else {}) for n, d in enumerate(docs)])
        insert_ignore(s, Document, [{c.key: getattr(d, c.key) for c in Document.__table__.c} for d in docs])
    with ledger.read() as s:
        stored = list(s.scalars(select(Document).where(Document.run_id == run.id).order_by(Document.id)))
    assert len(stored) == len(docs)
    for n, (before, after) in enumerate(zip(docs, stored)):
        assert (after.decision, after.decision_reason) == ("print", f"why {n}")
        assert after.decision_rules == ('["r1"]' if n % 2 else before.decision_rules)  # left out: kept


def test_a_whole_run_of_messages_is_planned_at_once_and_again_without_doubles(ledger):
    # print-if-unread plans a whole run's letters in one call: more ids than PostgreSQL takes as parameters of one
    # statement (65,535; SQLite's limit is 32,766 upstream, but Debian's library takes 250,000).
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("the parameter limit tested is PostgreSQL's")
    run = _prepare(ledger, 1)
    with ledger.read() as s:
        doc = s.scalars(select(Document).where(Document.run_id == run.id)).one()
    rows = [{"id": f"letter-{n:06d}", "run_id": run.id, "document_id": doc.id, "channel": "print", "batch_no": 0,
             "state": "planned", "kind": "primary"} for n in range(66_000)]
    for _ in range(2):
        with ledger.transaction() as s:
            add_messages(s, rows)
    with ledger.read() as s:
        planned = s.scalar(select(func.count()).select_from(Message).where(Message.id.like("letter-%")))
        events = s.scalar(select(func.count()).select_from(MessageEvent).where(MessageEvent.message_id.like("letter-%")))
    assert planned == events == 66_000


def test_two_claimers_on_postgresql_never_take_the_same_message(postgres_url):
    db = Ledger(postgres_url)
    try:
        run = _prepare(db, N)
        first_holds, second_done = threading.Event(), threading.Event()
        taken: dict[str, list[str]] = {}
        waited_out: list[bool] = []

        def first() -> None:  # claims half and keeps its transaction open while the second claims
            with db.transaction() as s:
                now = datetime.now(timezone.utc)
                taken["first"] = [m.id for m in claim_messages(s, run.id, "email", 0, "first", now=now,
                                                               lease_until=now + timedelta(minutes=5),
                                                               limit=N // 2)]
                first_holds.set()
                waited_out.append(not second_done.wait(10))

        thread = threading.Thread(target=first)
        thread.start()
        assert first_holds.wait(30)
        taken["second"] = [m.id for m in _claimed(db, run, "second")]  # skips the rows the first has locked
        second_done.set()
        thread.join(30)
        assert waited_out == [False]  # the second claimer did not wait for the first's transaction
        assert len(taken["first"]) == len(taken["second"]) == N // 2
        assert not set(taken["first"]) & set(taken["second"])
        with db.read() as s:
            owners = {m.id: m.claimed_by for m in messages_in(s, run.id, states=("sending",))}
            events = _events(s, owners)
        assert owners == {i: who for who, ids in taken.items() for i in ids}
        assert all(sum(1 for e in events[i] if e[1] == "sending") == 1 for i in owners)
    finally:
        db.dispose()


def _finish_attempts_plan(session, ids: list[str]) -> str:
    """EXPLAIN of the statement finish_attempts sends on PostgreSQL for these messages' first attempts."""
    from omnibill.ledger.repository import _arrays, _layout, _update_statement

    table = DispatchAttempt.__table__
    rows = [{"message_id": i, "attempt_no": 1, "outcome": "sent", "error": None, "permanent": False,
             "finished_at": LATER} for i in ids]
    names, partial = _layout(table, rows)
    compiled = _update_statement(table, names, partial, ("message_id", "attempt_no")).compile(dialect=session.bind.dialect)
    found = session.connection().exec_driver_sql("EXPLAIN " + str(compiled),
                                                 compiled.construct_params(_arrays(table, rows, names, partial)))
    return "\n".join(r[0] for r in found)


def test_statistics_of_the_growing_tables_keep_chunk_updates_on_their_indexes(ledger):
    # A run fills dispatch_attempts within minutes; planned with an empty table's statistics, closing a chunk's
    # attempts scanned the whole table each time (PostgreSQL). While a flow holds a run, the ledger analyzes the
    # growing tables as it goes.
    run = _prepare(ledger, 200)
    if ledger.engine.dialect.name != "postgresql":
        with ledger.statistics_kept(every_s=0.01):  # SQLite's planner needs none: no thread
            assert "ledger statistics" not in [t.name for t in threading.enumerate()]
        assert ledger.tend_growing_tables() == []
        return
    with ledger.read() as s:
        ids = [m.id for m in messages_in(s, run.id, states=("rendered",))]
    # As a run of 100,000 customers leaves them: 120,000 messages (copies of these), each with its attempt.
    copies = [Message.id, Message.run_id, Message.document_id, Message.channel, Message.batch_no, Message.state,
              Message.permanent, Message.attempts, Message.cost, Message.kind, Message.created_at, Message.updated_at]
    n = func.generate_series(1, 120_000 // len(ids)).table_valued("n").render_derived()
    copied = select(func.left(Message.id, 20) + "-" + func.cast(n.c.n, String), *copies[1:]).where(Message.id.in_(ids))
    attempts = select(Message.id, literal(1), literal(LATER), literal("failed"), literal(False))
    last_analyzed = text("SELECT coalesce(last_analyze, to_timestamp(0)) FROM pg_stat_user_tables "
                         "WHERE relname = 'dispatch_attempts'")
    with ledger.statistics_kept(every_s=0.2):
        with ledger.transaction() as s:
            s.execute(Message.__table__.insert().from_select([c.key for c in copies], copied.join(n, true())))
            s.execute(DispatchAttempt.__table__.insert().from_select(
                ["message_id", "attempt_no", "started_at", "outcome", "permanent"],
                attempts.where(Message.id.not_in(ids))))
            filled = s.scalar(text("SELECT clock_timestamp()"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ledger.read() as s:
                if s.scalar(last_analyzed) > filled:
                    break
            time.sleep(0.1)
    assert "ledger statistics" not in [t.name for t in threading.enumerate()]  # it ends with the block
    with ledger.read() as s:
        plan = _finish_attempts_plan(s, ids[:50])
    assert "Seq Scan on dispatch_attempts" not in plan, plan
    assert "ix_dispatch_attempts_message_id" in plan, plan

    # Every state change leaves a dead row; without autovacuum (as on this machine's server) the ledger vacuums.
    with ledger.transaction() as s:
        s.execute(update(Message).where(Message.run_id == run.id).values(state="sent"))
        autovacuum = s.scalar(text("SHOW autovacuum")) == "on"
    dead = text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'messages'")
    if autovacuum:
        return  # the server's own autovacuum does it
    deadline, done = time.monotonic() + 60, []
    while "VACUUM (SKIP_LOCKED, ANALYZE) messages" not in done and time.monotonic() < deadline:
        time.sleep(0.2)  # until the server's statistics show the dead rows
        done = ledger.tend_growing_tables()
    assert "VACUUM (SKIP_LOCKED, ANALYZE) messages" in done
    with ledger.read() as s:
        assert s.scalar(dead) < 1_000
