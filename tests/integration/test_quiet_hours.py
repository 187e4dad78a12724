"""Scheduled messages go out, and only when their time has come (SQLite and PostgreSQL).

An invoice SMS decided at 22:00 in Stockholm waits for 08:00: the release sends nothing at 06:59 and
sends it at 08:01, counted at the sandbox SMS gateway; a rerun at 23:00 holds an SMS back again.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from config.settings import get_settings
from channel_adapters.registry import build_adapter
from omnibill import wiring
from omnibill.decide.stage import run_release
from omnibill.dispatch.stage import run_dispatch
from omnibill.reconcile.stage import run_reconcile
from omnibill.render.stage import run_render
from tests.conftest import sandbox_for_test
from tests.integration.test_decide_ledger import (RULES, extract, ledger, messages, opt_in, party,  # noqa: F401
                                                  run_period)

EVENING = datetime(2026, 11, 18, 21, 0, tzinfo=timezone.utc)      # 22:00 in Stockholm
EARLY = datetime(2026, 11, 19, 5, 59, tzinfo=timezone.utc)        # 06:59
MORNING = datetime(2026, 11, 19, 7, 1, tzinfo=timezone.utc)       # 08:01
LATE = datetime(2026, 11, 19, 22, 0, tzinfo=timezone.utc)         # 23:00 the next evening


def _sms_invoice(ledger):
    x = extract("2026-11", [party("C1", mobile="070-123 45 67", national_id=None)], {"C1": opt_in(invoice=["sms"])},
                [("INV-1", "C1", "invoice")])
    run, counts = run_period(ledger, "2026-11", x, now=EVENING)
    return run, counts


def _render_and_send(ledger, run, now) -> Counter:
    settings = get_settings()
    run_render(ledger, run, 0, RULES.senders_by_country(), settings.resolved_store_url(), settings.s3, workers=1)
    adapter = build_adapter("sms", settings)
    try:
        return run_dispatch(ledger, run, "sms", 0, adapter, wiring.document_store(), rules=RULES, now=now)
    finally:
        adapter.close()


def test_an_sms_scheduled_for_the_morning_leaves_after_eight_and_not_before(ledger, omnibill_env, monkeypatch):
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        run, counts = _sms_invoice(ledger)
        sms = messages(ledger, run)["INV-1/sms/primary"]
        assert counts == Counter(sms=1) and sms.state == "scheduled"
        assert sms.not_before.replace(tzinfo=timezone.utc) == datetime(2026, 11, 19, 7, 0, tzinfo=timezone.utc)
        assert "scheduled for 19 Nov 2026 08:00 Europe/Stockholm" in sms.reason
        assert run_reconcile(ledger, run, 1).as_dict()["status"] == "scheduled"

        assert run_release(ledger, run, now=EARLY) == 0
        assert _render_and_send(ledger, run, EARLY) == Counter()
        assert box.ledger.count("sms") == 0

        assert run_release(ledger, run, now=MORNING) == 1
        assert _render_and_send(ledger, run, MORNING) == Counter(sent=1)
        assert (box.ledger.count("sms", unique=True), box.ledger.count("sms")) == (1, 1)
        assert run_release(ledger, run, now=MORNING) == 0
        rec = run_reconcile(ledger, run, 1).as_dict()
    assert rec["status"] == "complete" and rec["outcome"]["sent"] == 1 and rec["outcome"]["scheduled"] == 0


def test_a_rerun_at_night_holds_the_sms_back_until_morning(ledger, omnibill_env, monkeypatch):
    with sandbox_for_test(omnibill_env, monkeypatch) as box:
        run, _ = _sms_invoice(ledger)
        run_release(ledger, run, now=MORNING)
        box.faults.down_channels = {"sms"}  # an outage in the morning: the SMS fails transiently
        try:
            _render_and_send(ledger, run, MORNING)
        except Exception as exc:  # noqa: BLE001 - BatchHadTransientFailures
            assert "failed transiently" in str(exc)
        box.faults.down_channels = set()
        assert messages(ledger, run)["INV-1/sms/primary"].state == "failed"
        # the operator's rerun at 23:00: the provider is back, but it is night for the customer
        assert _render_and_send(ledger, run, LATE) == Counter(scheduled=1)
        assert box.ledger.count("sms") == 0
        sms = messages(ledger, run)["INV-1/sms/primary"]
        assert sms.state == "scheduled" and "checked at sending" in sms.reason
        assert sms.not_before.replace(tzinfo=timezone.utc) == datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
