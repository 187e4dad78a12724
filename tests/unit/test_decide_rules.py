"""Decide rules (first version): consent, reachability, chain order, paper as the last resort."""

from pathlib import Path

import pytest

from config.tenant import load_tenant
from omnibill.decide import choose_channel
from omnibill.model import Party

RULES = load_tenant("demo", Path(__file__).resolve().parents[2] / "config" / "tenants")
INVOICE = RULES.categories["invoice"]
REMINDER = RULES.categories["reminder"]


def person(**kw) -> Party:
    base = dict(customer_id="C1", customer_type="person", name="Åsa Öberg", country="SE", language="sv",
                national_id="198112189876", street="Storgatan 1", postal_code="111 22", city="Stockholm")
    return Party(**(base | kw))


def org(**kw) -> Party:
    return person(customer_type="organisation", name="Acme AB", national_id="5567321707", **kw)


def pref(status: str, when: str = "2025-01-01T00:00:00") -> dict:
    return {"status": status, "recorded_at": when, "source": "web"}


@pytest.mark.parametrize("party, consents, expected", [
    (person(email="asa@example.se"), {"invoice": {"email": pref("opt_in")}}, "email"),
    (person(email="not-an-address"), {"invoice": {"email": pref("opt_in")}}, "print"),
    (person(email="asa@example.se"), {"invoice": {"email": pref("opt_out")}}, "print"),
    (person(email="asa@example.se"), {}, "print"),
    (person(mobile="070-123 45 67"), {"invoice": {"sms": pref("opt_in")}}, "sms"),
    (person(mobile="08-123 456 78"), {"invoice": {"sms": pref("opt_in")}}, "print"),
    (person(digital_mailbox="kivra"), {}, "mailbox"),
    (person(digital_mailbox="kivra"), {"invoice": {"mailbox": pref("opt_out")}}, "print"),
    (person(digital_mailbox="kivra", email="a@example.se"), {"invoice": {"email": pref("opt_in")}}, "mailbox"),
    (org(peppol_id="0007:5567321707", email="ap@acme.se"), {"invoice": {"email": pref("opt_in")}}, "einvoice"),
    (org(peppol_id="0007:5567321707"), {"invoice": {"einvoice": pref("opt_out")}}, "print"),
    (org(peppol_id="garbage"), {}, "print"),
])
def test_invoice_channel(party, consents, expected):
    assert choose_channel(party, consents, INVOICE).channel == expected


def test_reminder_uses_reminder_consents_not_invoice_ones():
    party = person(email="asa@example.se")
    assert choose_channel(party, {"invoice": {"email": pref("opt_in")}}, REMINDER).channel == "print"
    assert choose_channel(party, {"reminder": {"email": pref("opt_in")}}, REMINDER).channel == "email"


def test_unreachable_without_channel_or_postal_address():
    party = person(street=None, email="asa@example.se")
    decision = choose_channel(party, {"invoice": {"email": pref("opt_out")}}, INVOICE)
    assert decision.channel is None
    assert decision.reason.startswith("unreachable") and "street missing" in decision.reason


def test_excluded_channel_moves_down_the_chain():
    party = person(digital_mailbox="kivra", email="asa@example.se")
    consents = {"invoice": {"email": pref("opt_in")}}
    assert choose_channel(party, consents, INVOICE, exclude={"mailbox"}).channel == "email"
    assert choose_channel(party, consents, INVOICE, exclude={"mailbox", "email"}).channel == "print"


def test_reason_says_why_and_names_no_personal_data():
    decision = choose_channel(person(email="asa@example.se"), {"invoice": {"email": pref("opt_in")}}, INVOICE)
    assert "opted in on 2025-01-01 via web" in decision.reason
    assert "asa@example.se" not in " ".join(decision.rules)
