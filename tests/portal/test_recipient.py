"""The recipient's consent and opens as unit tests: choices merged (latest wins), what a choice stores,
one-click unsubscribe, who counts as reading, and the background writer of opens."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from omnibill.decide.choices import merge_choices
from omnibill.portal import recipient
from tests.portal.support import BROWSER_UA, PREVIEW_UAS

T0 = datetime(2026, 11, 18, 11, 0, tzinfo=timezone.utc)


def _choice(status: str, at: datetime | str, source: str) -> dict:
    return {"status": status, "recorded_at": at.isoformat() if isinstance(at, datetime) else at, "source": source}


def test_latest_choice_wins_whichever_source():
    extract = {"invoice": {"email": _choice("opt_out", T0, "app"), "sms": _choice("opt_in", T0, "web")},
               "service": {"sms": _choice("opt_in", T0, "call-centre")}}
    portal = {"invoice": {"email": _choice("opt_in", T0 + timedelta(days=1), "portal"),
                          "sms": _choice("opt_out", T0 - timedelta(days=1), "portal")},
              "marketing": {"email": _choice("opt_out", T0, "unsubscribe")}}
    merged = merge_choices(extract, portal)
    assert merged["invoice"]["email"]["source"] == "portal"  # newer than the ERP's
    assert merged["invoice"]["sms"]["source"] == "web"  # the ERP's is newer
    assert merged["service"] == extract["service"] and merged["marketing"] == portal["marketing"]
    assert extract["invoice"]["email"]["status"] == "opt_out"  # the inputs are not changed
    # the same moment: the portal's (read after the extract) wins; an unreadable date never does
    same_moment = merge_choices({"invoice": {"email": _choice("opt_out", T0, "app")}},
                                {"invoice": {"email": _choice("opt_in", T0, "portal")}})
    assert same_moment["invoice"]["email"]["status"] == "opt_in"
    assert merge_choices({"invoice": {"email": _choice("opt_out", T0, "app")}},
                         {"invoice": {"email": _choice("opt_in", "yesterday", "portal")}}
                         )["invoice"]["email"]["status"] == "opt_out"
    # a naive time counts as UTC
    assert merge_choices({"invoice": {"email": _choice("opt_out", "2026-11-18T12:00:00", "app")}},
                         {"invoice": {"email": _choice("opt_in", T0, "portal")}})["invoice"]["email"]["source"] == "app"
    assert merge_choices(None, None) == {}


def test_who_counts_as_reading():
    assert recipient.is_person_reading("GET", BROWSER_UA)
    assert recipient.is_person_reading("GET", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                              "HeadlessChrome/156.0.0.0 Safari/537.36")
    assert not recipient.is_person_reading("HEAD", BROWSER_UA)
    assert not recipient.is_person_reading("POST", BROWSER_UA)
    for agent in PREVIEW_UAS + ("", None, "curl/8.5.0", "Wget/1.21"):
        assert not recipient.is_person_reading("GET", agent), agent


def test_client_hash_keeps_no_address():
    first = recipient.client_hash(b"secret", "203.0.113.9")
    assert first == recipient.client_hash(b"secret", "203.0.113.9") and len(first) == 32
    assert "203.0.113.9" not in first and "203" not in first[:3]
    assert first != recipient.client_hash(b"other", "203.0.113.9")
    assert first != recipient.client_hash(b"secret", "203.0.113.10")


def test_offered_channels_follow_the_chain_and_the_contact_data():
    from omnibill import wiring

    rules = wiring.tenant_rules("demo")
    person = {"customer_id": "C1", "customer_type": "person", "name": "Anna Berg", "country": "SE", "language": "sv",
              "email": "anna@example.com", "mobile": "+46701234567", "street": "Gatan 1", "postal_code": "11143",
              "city": "Stockholm"}
    offered = recipient.offered_channels(rules, person)
    assert set(offered) == {"invoice", "reminder", "service", "marketing"}
    assert {"email", "sms", "print"} <= set(offered["invoice"])
    assert "print" not in offered["marketing"]
    without_email = recipient.offered_channels(rules, person | {"email": None})
    assert "email" not in without_email["invoice"] and "sms" in without_email["invoice"]


@pytest.fixture
def ledger(omnibill_env):
    from omnibill import wiring

    return wiring.ledger()


def _customer(consents=None) -> SimpleNamespace:
    return SimpleNamespace(customer_id="C0000001", consents=consents or {})


def test_a_choice_opts_in_one_channel_and_out_of_the_others(ledger):
    from omnibill.ledger.portal import latest_preferences

    offered = {"invoice": ["mailbox", "email", "sms", "print"], "reminder": ["email", "print"],
               "marketing": ["email", "sms"]}
    stored = recipient.save_choices(ledger, "demo", "C0000001", {"invoice": "email"}, offered, "h", at=T0)
    assert stored == 4
    with ledger.read() as session:
        latest = latest_preferences(session, "demo", ["C0000001"])["C0000001"]
    assert {c: v["status"] for c, v in latest["invoice"].items()} == {
        "mailbox": "opt_out", "email": "opt_in", "sms": "opt_out", "print": "opt_out"}
    assert {v["source"] for v in latest["invoice"].values()} == {"portal"}
    assert set(latest) == {"invoice"}  # the categories not picked are left alone
    assert recipient.current_choices(ledger, "demo", _customer(), offered) == {
        "invoice": "email", "reminder": "", "marketing": ""}

    # not offered, not a category, or an empty pick for invoices: nothing stored
    assert recipient.save_choices(ledger, "demo", "C0000001", {"invoice": "push", "bogus": "email"}, offered, "h") == 0
    assert recipient.save_choices(ledger, "demo", "C0000001", {"invoice": "", "reminder": ""}, offered, "h") == 0
    # marketing can be declined everywhere
    assert recipient.save_choices(ledger, "demo", "C0000001", {"marketing": ""}, offered, "h",
                                  at=T0 + timedelta(minutes=1)) == 2
    assert recipient.current_choices(ledger, "demo", _customer(), offered)["marketing"] == ""


def test_current_choice_is_the_newest_of_erp_and_portal(ledger):
    offered = {"invoice": ["email", "sms", "print"]}
    erp = {"invoice": {"sms": _choice("opt_in", T0, "app")}}
    assert recipient.current_choices(ledger, "demo", _customer(erp), offered) == {"invoice": "sms"}
    recipient.save_choices(ledger, "demo", "C0000001", {"invoice": "email"}, offered, "h", at=T0 + timedelta(hours=1))
    assert recipient.current_choices(ledger, "demo", _customer(erp), offered) == {"invoice": "email"}
    later_erp = {"invoice": {"sms": _choice("opt_in", T0 + timedelta(days=2), "app")}}
    assert recipient.current_choices(ledger, "demo", _customer(later_erp), offered) == {"invoice": "sms"}


def test_unsubscribe_opts_out_of_marketing_everywhere_and_repeats_harmlessly(ledger):
    from omnibill import wiring
    from omnibill.ledger.portal import latest_preferences

    rules = wiring.tenant_rules("demo")
    marketing = rules.categories["marketing"]
    channels = set(marketing.person_chain) | set(marketing.organisation_chain)
    recipient.save_choices(ledger, "demo", "C0000001", {"marketing": "email"}, {"marketing": sorted(channels)}, "h",
                           at=T0)
    for n in range(2):
        assert recipient.unsubscribe(ledger, rules, "demo", "C0000001", "h", at=T0 + timedelta(days=1 + n)) == len(
            channels)
        with ledger.read() as session:
            latest = latest_preferences(session, "demo", ["C0000001"])["C0000001"]
        assert set(latest) == {"marketing"} and set(latest["marketing"]) == channels
        assert {(v["status"], v["source"]) for v in latest["marketing"].values()} == {("opt_out", "unsubscribe")}


class _Ledger:
    """Stands in for the ledger: records the transactions the open writer makes."""

    def __init__(self, fail_first: bool = False):
        self.batches: list[int] = []
        self.fail_first = fail_first
        self.gate = threading.Event()
        self.gate.set()

    @contextmanager
    def transaction(self):
        self.gate.wait(10)
        session = SimpleNamespace(marked=[])
        yield session
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("database is locked")
        self.batches.append(len(session.marked))


def test_open_writer_batches_and_flushes(monkeypatch):
    monkeypatch.setattr(recipient, "mark_opened", lambda session, document_id, at: session.marked.append(document_id))
    fake = _Ledger()
    fake.gate.clear()  # the run holds the write lock: the pages only queue their opens
    opens = recipient.OpenRecorder(lambda: fake, batch=500)
    for n in range(1200):
        opens.record(f"{n:032x}")
    assert fake.batches == []
    fake.gate.set()
    opens.flush()
    assert sum(fake.batches) == 1200 and max(fake.batches) <= 500 and len(fake.batches) <= 4


def test_open_writer_survives_a_failed_write(monkeypatch, caplog):
    monkeypatch.setattr(recipient, "mark_opened", lambda session, document_id, at: session.marked.append(document_id))
    fake = _Ledger(fail_first=True)
    opens = recipient.OpenRecorder(lambda: fake)
    opens.record("a" * 32)
    opens.flush()
    opens.record("b" * 32)
    opens.flush()
    assert fake.batches == [1]
    assert "could not record 1 open(s)" in caplog.text
