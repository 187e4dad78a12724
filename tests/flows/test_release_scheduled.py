"""A monthly run at night leaves SMS scheduled; the release flow sends them after 08:00 and not before.

The clock is OMNIBILL_NOW; what the sandbox SMS gateway received is counted after each step.
"""

from __future__ import annotations

import pytest

from flows.monthly_billing import monthly_billing_run
from flows.release_scheduled import release_scheduled
from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.reconcile.status import status_rows
from tests.conftest import reset_caches

pytestmark = pytest.mark.slow
PERIOD = "2026-11"


def _at(monkeypatch, moment: str) -> None:
    monkeypatch.setenv("OMNIBILL_NOW", moment)
    reset_caches()


def _sms_states() -> dict[str, int]:
    with wiring.ledger().transaction() as session:
        rows = status_rows(session, wiring.run_of("demo", PERIOD))
    counts: dict[str, int] = {}
    for r in rows:
        if r["channel"] == "sms":
            counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def test_sms_of_a_night_run_leave_with_the_release_after_quiet_hours(prefect_harness, omnibill_env, sandbox,
                                                                    monkeypatch, tmp_path):
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=300, period=PERIOD, seed=11)
    _at(monkeypatch, "2026-11-18T21:30:00+00:00")  # 22:30 in Stockholm
    summary = monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract))
    night = _sms_states()
    assert night.get("scheduled", 0) > 0 and summary["status"] == "scheduled", night
    assert sandbox.ledger.count("sms") == night.get("sent", 0) + night.get("delivered", 0) == 0

    _at(monkeypatch, "2026-11-19T05:59:00+00:00")  # 06:59: still quiet
    assert release_scheduled(tenant="demo")["released"] == {}
    assert sandbox.ledger.count("sms") == 0

    _at(monkeypatch, "2026-11-19T07:01:00+00:00")  # 08:01
    released = release_scheduled(tenant="demo")["released"]
    morning = _sms_states()
    assert released[PERIOD]["due"] == night["scheduled"] and released[PERIOD]["status"] == "complete", released
    assert morning.get("scheduled", 0) == 0
    sent = morning.get("sent", 0) + morning.get("delivered", 0)
    assert sent == night["scheduled"]
    assert (sandbox.ledger.count("sms", unique=True), sandbox.ledger.count("sms")) == (sent, sent)
    assert release_scheduled(tenant="demo")["released"] == {}  # nothing twice
    assert sandbox.ledger.count("sms") == sent


def test_a_bounce_that_comes_after_the_run_sends_its_fallback_with_the_next_release(prefect_harness, omnibill_env,
                                                                                    sandbox, monkeypatch, tmp_path):
    from sqlalchemy import select

    from channel_adapters.base import ReceiptEvent
    from omnibill.ledger.models import Document, Message
    from omnibill.receipts.apply import take_events

    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=120, period=PERIOD, seed=12)
    _at(monkeypatch, "2026-11-18T09:00:00+00:00")
    assert monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract))["status"] == "complete"
    with wiring.ledger().transaction() as s:
        mail = s.scalars(select(Message).join(Document, Document.id == Message.document_id).where(
            Message.channel == "email", Message.state == "sent", Message.kind == "primary",
            Document.document_type == "invoice")).first()
        assert mail is not None
        # The relay's DSN arrives an hour later, after the run ended (here written as the bounce reader would).
        take_events(s, "smtp", [ReceiptEvent(mail.id, "bounced", "5.1.1 user unknown", event_id="late-dsn")])
    letters_before = _letters()
    _at(monkeypatch, "2026-11-18T10:00:00+00:00")
    settled = release_scheduled(tenant="demo")["fallbacks_after_reports"]
    assert settled == {PERIOD: 1}
    with wiring.ledger().read() as s:
        fallback = s.scalars(select(Message).where(Message.fallback_of == mail.id)).one()
    assert fallback.state in ("sent", "delivered") and fallback.channel != "email"
    assert _letters() == letters_before + (fallback.channel == "print")  # a letter, when the chain says print


def _letters() -> int:
    import csv
    from pathlib import Path

    drop = Path(wiring.get_settings().resolved_print_url())
    return sum(1 for m in drop.rglob("batch-*.csv") for _ in csv.DictReader(m.open()))
