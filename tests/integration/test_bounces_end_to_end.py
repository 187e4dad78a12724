"""A refused e-mail recipient, end to end: the relay accepts, then bounces (RFC 3464 to our VERP address);
the run reads the bounce, fails the message for good, suppresses the address and sends the fallback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.ledger.models import Document, Message, Suppression
from tests.conftest import sandbox_for_test
from tests.integration.test_run_end_to_end import _run_cli

pytestmark = pytest.mark.slow
PERIOD = "2026-08"


def test_a_bounced_email_ends_as_a_suppression_and_a_fallback(prefect_harness, omnibill_env, monkeypatch,
                                                               tmp_path: Path):
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=80, period=PERIOD, seed=5)
    with open(extract / "customers.csv", newline="") as f:
        emails = [row["email"] for row in csv.DictReader(f) if row["email"]]
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        box.faults.update({"reject_recipients": emails})  # the relay takes them, then bounces them all
        _run_cli("run", "--tenant", "demo", "--period", PERIOD, "--source", str(extract))
        bounced_at_relay = box.ledger.count("email")
    with wiring.ledger().read() as s:
        every = list(s.scalars(select(Message).where(Message.channel == "email")))
        fallbacks = {m.fallback_of: m for m in s.scalars(select(Message).where(Message.fallback_of.is_not(None)))}
        suppressed = {x.message_id for x in s.scalars(select(Suppression).where(Suppression.channel == "email"))}
        # Invoices, credit notes and reminders must reach the customer: they fall back (to a letter at last).
        # Marketing and service messages, and notices ("it is in your mailbox"), plan no fallback.
        bills = [m for m in every if m.kind == "primary" and s.get(Document, m.document_id).document_type
                 in ("invoice", "credit_note", "reminder")]
    assert bills and bounced_at_relay == len(every)  # each e-mail reached the relay once, and bounced
    for m in every:
        assert (m.state, m.permanent) == ("failed", True) and "bounced (hard): 5.1.1" in m.reason
        assert m.id in suppressed
    for m in bills:
        assert fallbacks[m.id].state in ("sent", "delivered") and fallbacks[m.id].channel != "email"
