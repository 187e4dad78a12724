"""Print if unread (SQLite and PostgreSQL): a letter for each reminder whose digital message nobody opened
within the tenant's days, and only for those; then the whole flow under Prefect, counted at the print drop.

When a message was sent is its `message_events` row into `sent` (the ledger query's choice, see
omnibill/ledger/unread.py), written with the real clock. The tests set that moment (and `updated_at`) with
an UPDATE to where each case needs it, and judge at a fixed `now` (the flow: the pinned clock OMNIBILL_NOW).
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from config.tenant import PrintIfUnreadRule, TenantConfigError, load_tenant
from omnibill import wiring
from omnibill.decide.explain import explain_customer, render_text
from omnibill.decide.unread import LETTER_KEY, letter_id, letters_of, run_print_if_unread
from omnibill.ledger.models import Document, Message, MessageEvent
from omnibill.ledger.portal import mark_opened
from omnibill.ledger.repository import add_messages
from omnibill.model import message_key
from omnibill.reconcile.stage import reconcile_only
from omnibill.store import LocalStore
from tests.conftest import DAYTIME, REPO, reset_caches, sandbox_for_test
from tests.integration.test_decide_ledger import (RULES, extract, ledger, mark, messages, opt_in,  # noqa: F401
                                                  party, run_period)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)  # when the flow looks (the pretend clock)
LONG_AGO = NOW - timedelta(days=10)  # more than the demo tenant's 7 days
RECENTLY = NOW - timedelta(days=3)
PERIOD = "2026-11"


def sent_at(ledger, message_ids: list[str], at: datetime) -> None:
    """Mark messages sent, then move the moment they were sent to `at` (tests may write SQL)."""
    mark(ledger, message_ids, "sent", reason="accepted by the provider")
    with ledger.transaction() as s:
        s.execute(update(MessageEvent).where(MessageEvent.message_id.in_(message_ids),
                                             MessageEvent.to_state == "sent").values(at=at))
        s.execute(update(Message).where(Message.id.in_(message_ids)).values(updated_at=at))


def opened(ledger, run, invoice_id: str, at: datetime) -> None:
    """The recipient opens the document (what the portal does on a real open)."""
    with ledger.transaction() as s:
        doc = s.scalars(select(Document).where(Document.run_id == run.id, Document.invoice_id == invoice_id)).one()
        assert mark_opened(s, doc.id, at) == 1


def letters(ledger, run) -> dict[str, Message]:
    """The print-if-unread letters of a run by ERP document id."""
    return {key.split("/")[0]: m for key, m in messages(ledger, run).items() if m.kind == "print_if_unread"}


def _scenario(ledger):
    """Six customers, each with one document sent by e-mail (C6's reminder by SMS)."""
    customers = [party(f"C{i}", email=f"kund{i}@example.se") for i in range(1, 5)]
    customers += [party("C5", email="kund5@example.se", street=None),  # no complete postal address
                  party("C6", mobile="0701234567")]
    consents = {c.customer_id: opt_in(reminder=["email", "sms"], invoice=["email"]) for c in customers}
    docs = [("R1", "C1", "reminder"), ("R2", "C2", "reminder"), ("R3", "C3", "reminder"),
            ("I4", "C4", "invoice"), ("R5", "C5", "reminder"), ("R6", "C6", "reminder")]
    run, counts = run_period(ledger, PERIOD, extract(PERIOD, customers, consents, docs))
    assert counts == {"email": 5, "sms": 1}
    found = messages(ledger, run)
    sent_at(ledger, [found[k].id for k in ("R1/email/primary", "R2/email/primary", "I4/email/primary",
                                           "R5/email/primary", "R6/sms/primary")], LONG_AGO)
    sent_at(ledger, [found["R3/email/primary"].id], RECENTLY)
    opened(ledger, run, "R2", LONG_AGO + timedelta(days=1))
    return run


def test_a_letter_for_each_unread_reminder_and_only_those(ledger):
    run = _scenario(ledger)
    result = run_print_if_unread(ledger, run, RULES, NOW, hash_key=b"k")
    # R1 (e-mail) and R6 (SMS): unread after 10 days. Not R2 (opened), R3 (sent 3 days ago), I4 (an invoice:
    # not in the demo tenant's categories), R5 (no complete postal address: said why).
    assert (result["planned"], result["candidates"]) == (2, 3)
    assert result["skipped"] == [{"document_id": "R5", "customer_id": "C5",
                                  "reason": "no letter: postal address incomplete (street missing)"}]
    made = letters(ledger, run)
    assert set(made) == {"R1", "R6"}
    r1 = made["R1"]
    assert r1.id == letter_id("demo", PERIOD, "R1") == message_key("demo", PERIOD, "R1", LETTER_KEY)
    assert (r1.channel, r1.state, r1.kind, r1.cost) == ("print", "planned", "print_if_unread", RULES.cost("print"))
    assert r1.reason == "printed because the e-mail message of 23 Nov 2026 was not opened within 7 days"
    assert made["R6"].reason == "printed because the SMS message of 23 Nov 2026 was not opened within 7 days"
    assert r1.address_hash  # like every message: a returned letter suppresses the address by its hash

    # Again (tomorrow's run, or a retry): nothing new, whatever state the letters are in by then.
    assert run_print_if_unread(ledger, run, RULES, NOW + timedelta(days=1), hash_key=b"k")["planned"] == 0
    mark(ledger, [r1.id], "sent")
    assert run_print_if_unread(ledger, run, RULES, NOW + timedelta(days=3), hash_key=b"k")["planned"] == 0
    # R3 comes due once its own 7 days have passed; then it gets its one letter too.
    later = run_print_if_unread(ledger, run, RULES, RECENTLY + timedelta(days=7, minutes=1), hash_key=b"k")
    assert later["planned"] == 1 and set(letters(ledger, run)) == {"R1", "R6", "R3"}
    assert len(messages(ledger, run)) == 6 + 3
    assert letters_of(ledger, run) == {"planned": 2, "sent": 1}

    with ledger.transaction() as s:
        text = render_text(explain_customer(s, run, "C1"))
        assert "letter because unread by paper: sent — printed because the e-mail message of 23 Nov 2026 was " \
               "not opened within 7 days" in text
        rec = {c.channel: c for c in reconcile_only(ledger, run, 6).channels}
    assert rec["print (print_if_unread)"].counts["sent"] == 1  # the letters on a line of their own
    assert rec["email"].counts["planned"] == 5 and "print" not in rec


def test_never_for_an_opened_or_already_printed_document(ledger):
    customers = [party("C1", email="a@example.se"), party("C2", digital_mailbox="kivra"), party("C3"),
                 party("C4", email="d@example.se")]
    consents = {"C1": opt_in(reminder=["email"]), "C4": opt_in(reminder=["email"])}
    run, counts = run_period(ledger, PERIOD, extract(PERIOD, customers, consents,
                                                     [("R1", "C1", "reminder"), ("R2", "C2", "reminder"),
                                                      ("R3", "C3", "reminder"), ("R4", "C4", "reminder")]),
                             lookup=lambda provider, ids: set(ids))
    assert counts == {"email": 2, "mailbox": 1, "print": 1}
    found = messages(ledger, run)
    sent_at(ledger, [found["R1/email/primary"].id, found["R2/mailbox/primary"].id,
                     found["R3/print/primary"].id, found["R4/email/primary"].id], LONG_AGO)
    # The mailbox provider's read status, stored on the one message (not through the portal).
    with ledger.transaction() as s:
        s.execute(update(Message).where(Message.id == found["R2/mailbox/primary"].id).values(opened_at=LONG_AGO))
        # R4 went on paper already (here: a letter planned by hand): a print message of any kind counts.
        r4 = found["R4/email/primary"]
        add_messages(s, [{"id": message_key("demo", PERIOD, "R4", "print"), "run_id": run.id,
                          "document_id": r4.document_id, "channel": "print", "batch_no": r4.batch_no,
                          "state": "failed", "permanent": True, "reason": "returned to sender", "kind": "primary"}])
    opened(ledger, run, "R1", NOW - timedelta(hours=1))  # opened late, but before the letter was planned
    assert run_print_if_unread(ledger, run, RULES, NOW, hash_key=b"k") == {
        "planned": 0, "candidates": 0, "skipped": [], "cutoff": (NOW - timedelta(days=7)).isoformat(),
        "rule": "reminder unread 7 days after their e-mail, SMS, digital mailbox, e-invoice message"}
    assert letters(ledger, run) == {}


def test_the_rule_decides_categories_days_and_whether_at_all(ledger):
    run = _scenario(ledger)
    assert run_print_if_unread(ledger, run, RULES.model_copy(update={"print_if_unread": None}), NOW)["planned"] == 0
    wider = RULES.model_copy(update={"print_if_unread": PrintIfUnreadRule(categories=["invoice", "reminder"], days=2)})
    assert run_print_if_unread(ledger, run, wider, NOW, hash_key=b"k")["planned"] == 4
    made = letters(ledger, run)
    assert set(made) == {"R1", "R3", "I4", "R6"}
    assert made["R3"].reason == "printed because the e-mail message of 30 Nov 2026 was not opened within 2 days"
    only_sms = RULES.model_copy(update={"print_if_unread": PrintIfUnreadRule(channels=["sms"])})
    assert run_print_if_unread(ledger, run, only_sms, NOW)["candidates"] == 0  # R6 has its letter already


def test_the_command_refuses_a_busy_period_and_a_missing_run(ledger):
    _scenario(ledger)
    app = __import__("omnibill.cli.app", fromlist=["app"]).app
    with wiring.hold_run("demo", PERIOD, "the monthly run", create=False):
        out = CliRunner().invoke(app, ["print-if-unread", "--tenant", "demo", "--period", PERIOD])
    assert out.exit_code == 4 and "not started: a run of demo 2026-11 is active" in out.output, out.output
    assert letters(ledger, wiring.run_of("demo", PERIOD)) == {}
    out = CliRunner().invoke(app, ["print-if-unread", "--tenant", "demo", "--period", "2026-10"])
    assert out.exit_code == 1 and "no billing run for tenant 'demo' and period 2026-10" in out.output, out.output


def test_the_rule_file_is_validated(tmp_path):
    text = (REPO / "config" / "tenants" / "demo.toml").read_text()
    assert load_tenant("demo", REPO / "config" / "tenants").print_if_unread == PrintIfUnreadRule(
        categories=["reminder"], days=7)
    for wrong, key in [(text.replace("days = 7", "days = 0"), "print_if_unread.days"),
                       (text.replace('categories = ["reminder"]', 'categories = ["marketing"]'),
                        "print_if_unread.categories"),
                       (text.replace("days = 7", 'days = 7\nchannels = ["email", "print"]'),
                        "print_if_unread.channels"),
                       (text.replace("days = 7", "days = 7\nweeks = 1"), "print_if_unread.weeks")]:
        assert wrong != text
        (tmp_path / "demo.toml").write_text(wrong)
        with pytest.raises(TenantConfigError, match=r"demo\.toml: .*" + key.replace(".", r"\.")):
            load_tenant("demo", tmp_path)


# ---- the whole flow under Prefect: what the print house receives -------------------------------------------


@pytest.fixture
def sandbox(omnibill_env: Path, monkeypatch: pytest.MonkeyPatch):
    """Sandbox providers on free ports, the run's adapters pointed at them, retries without delay (daytime)."""
    with sandbox_for_test(omnibill_env, monkeypatch, BATCH_SIZE="50", DISPATCH_RETRIES="1",
                          DISPATCH_RETRY_DELAY_S="0", RENDER_WORKERS="1") as box:
        yield box


def _printed(var: Path) -> list[str]:
    """Message ids of every letter in the print drop's manifests (one PDF + CSV per batch)."""
    drops = LocalStore(var / "drops")
    return [row["message_id"] for key in drops.keys(f"print/demo/{PERIOD}") if key.endswith(".csv")
            for row in csv.DictReader((var / "drops" / key).read_text().splitlines())]


def _at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setenv("OMNIBILL_NOW", moment.isoformat())
    reset_caches()


@pytest.mark.slow
def test_the_flow_prints_only_the_unopened_reminders_once(prefect_harness, omnibill_env, sandbox, monkeypatch,
                                                         tmp_path):
    from flows.monthly_billing import monthly_billing_run
    from flows.print_if_unread import print_if_unread
    from omnibill.demo_data import write_demo_extract

    source = tmp_path / "extract"
    write_demo_extract(source, customers=300, period=PERIOD, seed=7)
    monthly_billing_run(tenant="demo", period=PERIOD, source=str(source))  # at DAYTIME, the pinned clock
    before = _printed(omnibill_env)
    ledger = wiring.ledger()
    run = wiring.run_of("demo", PERIOD)
    sent_on = datetime.fromisoformat(DAYTIME)
    with ledger.transaction() as s:
        rows = s.execute(select(Message, Document).join(Document, Document.id == Message.document_id)
                         .where(Message.run_id == run.id, Message.kind == "primary",
                                Message.state.in_(("sent", "delivered"))))
        reminders = sorted((d.invoice_id, d.id, m.id) for m, d in rows
                           if d.document_type == "reminder" and m.channel != "print")
        # What the dispatcher wrote with the real clock becomes the run's (pinned) moment.
        s.execute(update(MessageEvent).where(MessageEvent.message_id.in_([m for _, _, m in reminders]),
                                             MessageEvent.to_state == "sent").values(at=sent_on))
    assert len(reminders) >= 4, reminders  # seed 7: a handful of reminders went digitally
    read = reminders[::2]  # every other reminder is opened in the portal
    with ledger.transaction() as s:
        for _, doc_id, _ in read:
            assert mark_opened(s, doc_id, sent_on + timedelta(days=2)) >= 1
    unread = {inv for inv, _, _ in reminders} - {inv for inv, _, _ in read}

    _at(monkeypatch, sent_on + timedelta(days=6))  # too early: nothing yet
    early = print_if_unread(tenant="demo", period=PERIOD)
    assert (early["planned"], early["sent"]) == (0, 0) and _printed(omnibill_env) == before

    _at(monkeypatch, sent_on + timedelta(days=8))
    result = print_if_unread(tenant="demo", period=PERIOD)
    skipped = {s["document_id"] for s in result["skipped"]}
    expected = {letter_id("demo", PERIOD, inv) for inv in unread - skipped}
    new = list((Counter(_printed(omnibill_env)) - Counter(before)).elements())
    assert sorted(new) == sorted(expected) and expected, (new, expected)  # each unopened reminder once
    assert not {letter_id("demo", PERIOD, inv) for inv, _, _ in read} & set(_printed(omnibill_env))
    assert (result["planned"], result["sent"], result["unread"]) == (len(expected), len(expected), len(unread))
    assert result["status"] == "complete" and result["letters"] == {"sent": len(expected)}

    again = print_if_unread(tenant="demo", period=PERIOD)  # tomorrow's run: nothing more
    assert (again["planned"], again["sent"]) == (0, 0) and len(_printed(omnibill_env)) == len(before) + len(new)
    out = CliRunner().invoke(__import__("omnibill.cli.app", fromlist=["app"]).app,
                             ["print-if-unread", "--tenant", "demo", "--period", PERIOD])
    assert out.exit_code == 0 and "0 letters planned, 0 sent" in out.output, out.output
    assert len(_printed(omnibill_env)) == len(before) + len(new)
    summary = wiring.run_of("demo", PERIOD).summary
    line = next(c for c in summary["channels"] if c["channel"] == "print (print_if_unread)")
    assert line["sent"] == len(expected)
