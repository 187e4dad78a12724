"""Payments in the ledger (SQLite and PostgreSQL): a camt.054 import matched by reference once per bank
reference, unmatched payments kept, reminders of paid invoices not sent, the paid share per channel,
no letter for a paid document, and `omnibill explain` saying when it was paid."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from channel_adapters.base import PaymentEvent
from omnibill.decide.explain import explain_customer, render_text
from omnibill.decide.stage import decide_batch
from omnibill.decide.unread import run_print_if_unread
from omnibill.extract.results import ValidatedExtract
from omnibill.extract.stage import store_extract
from omnibill.ledger.models import Document, Payment
from omnibill.ledger.runs import open_run
from omnibill.model import BillingDocument, document_key
from omnibill.receipts.payments import record_payments
from omnibill.reconcile.stage import reconcile_only, render_table
from omnibill.reconcile.status import status_rows
from tests.integration.test_decide_ledger import (KEY, LINE, NOON, RULES, ledger, mark, messages,  # noqa: F401
                                                  opt_in, party)
from tests.integration.test_print_if_unread import sent_at

EXAMPLE = Path(__file__).resolve().parents[1] / "contract" / "fixtures" / "camt054" / \
    "handelsbanken_fi_credit_notification.xml"
CONSENTS = opt_in(invoice=["email"], reminder=["email"])


def extract(period: str, docs: list[tuple[str, str, str, str]], currency: str = "SEK") -> ValidatedExtract:
    """(invoice id, customer id, document type, payment reference) of each document; customers C1…"""
    customers = {cid: party(cid, email=f"{cid.lower()}@example.se") for _, cid, _, _ in docs}
    documents = [BillingDocument(document_key("demo", period, inv), inv, kind, period, date(2026, 11, 1),
                                 date(2026, 12, 1), currency, Decimal("100"), Decimal("25"), Decimal("125"), ref,
                                 customers[cid], (LINE,)) for inv, cid, kind, ref in docs]
    return ValidatedExtract(customers, documents, {c: CONSENTS for c in customers}, [], len(documents), {})


def run_period(ledger, period: str, x: ValidatedExtract, now: datetime = NOON):
    with ledger.transaction() as s:
        run = open_run(s, "demo", period, "memory")
        store_extract(s, run.id, x, batch_size=100)
        counts = decide_batch(s, run, 0, RULES, hash_key=KEY, now=now, mailbox_lookup=None)
    return run, counts


def pay(reference: str, event_id: str, amount: str = "125.00", paid_on: date = date(2026, 11, 20),
        source: str = "camt054", **kw) -> PaymentEvent:
    return PaymentEvent(reference=reference, amount=Decimal(amount), currency="SEK", paid_on=paid_on,
                        event_id=event_id, source=source, **kw)


def payments(ledger) -> dict[str, Payment]:
    with ledger.transaction() as s:
        return {p.event_id: p for p in s.scalars(select(Payment))}


def test_payments_are_matched_by_reference_once_each_and_unmatched_ones_kept(ledger):
    run, _ = run_period(ledger, "2026-11", extract("2026-11", [("INV-1", "C1", "invoice", "1234566"),
                                                               ("INV-2", "C2", "invoice", "RF18539007547034")]))
    events = [pay("123 4566", "A1"), pay("rf18 5390 0754 7034", "A2", "100.00"), pay("999", "A3"), pay("", "A4"),
              pay("1234566", "A1")]  # the same bank reference twice in one file
    with ledger.transaction() as s:
        assert record_payments(s, "demo", events) == Counter(matched=2, unmatched=2, duplicate=1, rematched=0)
    with ledger.transaction() as s:  # the same file again: nothing new
        assert record_payments(s, "demo", events[:4]) == Counter(matched=0, unmatched=0, duplicate=4, rematched=0)
        assert record_payments(s, "other", [pay("1234566", "B1")])["unmatched"] == 1  # another tenant's documents
    stored = payments(ledger)
    assert len(stored) == 5
    docs = {d.invoice_id: d.id for d in _documents(ledger)}
    assert (stored["A1"].status, stored["A1"].document_id, stored["A1"].reference) == ("matched", docs["INV-1"],
                                                                                       "1234566")
    assert (stored["A2"].document_id, stored["A2"].amount) == (docs["INV-2"], Decimal("100.00"))
    assert (stored["A3"].status, stored["A3"].reason) == ("unmatched",
                                                          "no document of this tenant has this payment reference")
    assert stored["A4"].reason == "no structured creditor reference (OCR, KID, RF) in the payment"


def test_a_payment_before_its_document_is_matched_by_a_later_import(ledger):
    with ledger.transaction() as s:
        assert record_payments(s, "demo", [pay("1234566", "EARLY")])["unmatched"] == 1
    run_period(ledger, "2026-11", extract("2026-11", [("INV-1", "C1", "invoice", "1234566")]))
    with ledger.transaction() as s:
        assert record_payments(s, "demo", [])["rematched"] == 1
    assert payments(ledger)["EARLY"].status == "matched"


def test_a_provider_payment_matches_by_our_message_id(ledger):
    run, _ = run_period(ledger, "2026-11", extract("2026-11", [("INV-1", "C1", "invoice", "1234566")]))
    message = messages(ledger, run)["INV-1/email/primary"]
    with ledger.transaction() as s:
        counts = record_payments(s, "demo", [pay("", "K1", source="kivra", message_id=message.id)])
    assert counts["matched"] == 1 and payments(ledger)["K1"].document_id == message.document_id


def test_the_reminder_of_a_paid_invoice_is_not_sent_and_is_accounted_for(ledger):
    october, _ = run_period(ledger, "2026-10", extract("2026-10", [("INV-1", "C1", "invoice", "1234566")]))
    with ledger.transaction() as s:
        record_payments(s, "demo", [pay("1234566", "P1", "125.00", date(2026, 11, 20))])
    run, counts = run_period(ledger, "2026-11", extract("2026-11", [("REM-1", "C1", "reminder", "1234566"),
                                                                    ("REM-2", "C2", "reminder", "7654321")]))
    assert counts == {"paid": 1, "email": 1}
    assert set(messages(ledger, run)) == {"REM-2/email/primary"}
    rem1 = next(d for d in _documents(ledger) if d.invoice_id == "REM-1")
    assert (rem1.decision, rem1.decision_reason) == (
        "paid", "reminder not sent: the invoice was paid on 2026-11-20 (SEK 125.00)")
    rec = reconcile_only(ledger, run, 2)
    assert rec.paid_unsent == 1 and rec.balanced and rec.as_dict()["paid_unsent"] == 1
    assert "paid before the reminder 1" in render_table(rec)
    with ledger.transaction() as s:
        assert {r["document_id"]: r["state"] for r in status_rows(s, run)} == {"REM-1": "paid", "REM-2": "planned"}
        text = render_text(explain_customer(s, run, "C1"))
        assert decide_batch(s, run, 0, RULES, hash_key=KEY, now=NOON, mailbox_lookup=None) == {}  # rerun: no-op
    assert "reminder REM-1: not sent" in text and "paid on 2026-11-20 (SEK 125.00)" in text


def test_the_paid_share_per_channel_with_amounts(ledger):
    run, _ = run_period(ledger, "2026-11", extract("2026-11", [("INV-1", "C1", "invoice", "1234566"),
                                                               ("INV-2", "C2", "invoice", "7654321"),
                                                               ("INV-3", "C3", "invoice", "1111111")]))
    found = messages(ledger, run)
    mark(ledger, [found["INV-1/email/primary"].id, found["INV-2/email/primary"].id], "sent")
    with ledger.transaction() as s:  # INV-1 paid in two parts; INV-3 paid though its e-mail was never sent
        record_payments(s, "demo", [pay("1234566", "P1", "100.00"), pay("1234566", "P2", "25.00"),
                                    pay("1111111", "P3")])
    rec = reconcile_only(ledger, run, 3)
    email = next(c for c in rec.channels if c.channel == "email")
    assert (email.reached_documents, email.paid, email.paid_share) == (2, 1, 0.5)
    assert email.amounts_paid == {"SEK": Decimal("125.00")}
    line = next(c for c in rec.as_dict()["channels"] if c["channel"] == "email")
    assert (line["paid"], line["paid_share"], line["amounts_paid"]) == (1, 0.5, {"SEK": "125.00"})
    assert "email                           2       1     50%  SEK 125.00" in render_table(rec)


def test_no_letter_for_a_paid_document_and_the_reason_is_given(ledger):
    now = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    run, _ = run_period(ledger, "2026-11", extract("2026-11", [("REM-1", "C1", "reminder", "1234566"),
                                                               ("REM-2", "C2", "reminder", "7654321")]))
    found = messages(ledger, run)
    sent_at(ledger, [found["REM-1/email/primary"].id, found["REM-2/email/primary"].id], now - timedelta(days=10))
    with ledger.transaction() as s:
        record_payments(s, "demo", [pay("7654321", "P1", paid_on=date(2026, 11, 30))])
    result = run_print_if_unread(ledger, run, RULES, now, hash_key=b"k")
    assert result["planned"] == 1
    assert result["skipped"] == [{"document_id": "REM-2", "customer_id": "C2",
                                  "reason": "no letter: paid on 2026-11-30 (SEK 125.00)"}]


def test_the_command_imports_the_published_example_once(ledger):
    from omnibill.cli.app import app

    run_period(ledger, "2026-11", extract("2026-11", [("INV-1", "C1", "invoice", "954 4208")], currency="EUR"))
    first = CliRunner().invoke(app, ["payments", "import", str(EXAMPLE), "--tenant", "demo"])
    assert first.exit_code == 0, first.output
    assert "4 payments in handelsbanken_fi_credit_notification.xml: 1 matched, 3 unmatched (kept), " \
           "0 already recorded" in first.output
    again = CliRunner().invoke(app, ["payments", "import", str(EXAMPLE), "--tenant", "demo"])
    assert "0 matched, 0 unmatched (kept), 4 already recorded" in again.output
    stored = payments(ledger)["20170123456"]
    assert (stored.status, stored.amount, stored.currency, stored.paid_on) == (
        "matched", Decimal("742.45"), "EUR", date(2017, 1, 22))


def test_the_command_refuses_a_file_that_is_not_camt054(ledger, tmp_path):
    from omnibill.cli.app import app

    other = tmp_path / "statement.xml"
    other.write_text('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>')
    out = CliRunner().invoke(app, ["payments", "import", str(other), "--tenant", "demo"])
    assert out.exit_code == 1 and "not a camt.054" in out.output


def _documents(ledger) -> list[Document]:
    with ledger.transaction() as s:
        return list(s.scalars(select(Document)))
