"""Decide rules, one table per rule: consent, registration, reachability, suppression, caps, quiet hours, companions."""

from datetime import datetime, timezone

import pytest

from config.tenant import TenantRules, load_tenant
from omnibill.decide import choose_channel
from omnibill.decide.reachability import address_hash
from omnibill.model import Party
from tests.conftest import REPO

RULES = load_tenant("demo", REPO / "config" / "tenants")
NOON = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)    # 12:00 in Stockholm
NIGHT = datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)  # 23:30 in Stockholm, 00:30 in Helsinki


def person(**kw) -> Party:
    base = dict(customer_id="C1", customer_type="person", name="Åsa Öberg", country="SE", language="sv",
                national_id="198112189876", street="Storgatan 1", postal_code="111 22", city="Stockholm")
    return Party(**(base | kw))


def org(**kw) -> Party:
    return person(customer_type="organisation", name="Acme AB", national_id="5567321707", **kw)


def pref(status: str, when: str = "2025-01-01T00:00:00+00:00") -> dict:
    return {"status": status, "recorded_at": when, "source": "web"}


def decide(party, consents=None, category="invoice", **kw):
    return choose_channel(party, consents or {}, RULES, category, now=kw.pop("now", NOON), hash_key=b"demo", **kw)


@pytest.mark.parametrize("party, consents, expected", [
    (person(email="asa@example.se"), {"invoice": {"email": pref("opt_in")}}, "email"),
    (person(email="not-an-address"), {"invoice": {"email": pref("opt_in")}}, "print"),
    (person(email="asa@example.se"), {"invoice": {"email": pref("opt_out")}}, "print"),
    (person(email="asa@example.se"), {}, "print"),                                     # e-mail needs an opt-in
    (person(mobile="070-123 45 67"), {"invoice": {"sms": pref("opt_in")}}, "sms"),
    (person(mobile="08-123 456 78"), {"invoice": {"sms": pref("opt_in")}}, "print"),  # landline
    (person(digital_mailbox="kivra"), {}, "mailbox"),                                  # registration is consent
    (person(digital_mailbox="kivra"), {"invoice": {"mailbox": pref("opt_out")}}, "print"),
    (person(digital_mailbox="kivra", national_id=None), {}, "print"),
    (person(digital_mailbox="kivra", email="a@example.se"), {"invoice": {"email": pref("opt_in")}}, "mailbox"),
    (org(peppol_id="0007:5567321707", email="ap@acme.se"), {"invoice": {"email": pref("opt_in")}}, "einvoice"),
    (org(peppol_id="0007:5567321707"), {"invoice": {"einvoice": pref("opt_out")}}, "print"),
    (org(peppol_id="0007:5567321708"), {}, "print"),                                   # orgnr check digit wrong
    (org(peppol_id="garbage"), {}, "print"),
    (person(email="asa@example.se", street=None), {"invoice": {"print": pref("opt_out")}}, None),
    (person(), {"invoice": {"print": pref("opt_out")}}, "print"),                      # paper: last resort
    (person(postal_code="1234"), {}, None),                                            # not a Swedish code
])
def test_invoice_channel(party, consents, expected):
    assert decide(party, consents).channel == expected


@pytest.mark.parametrize("consents, expected", [
    ({"invoice": {"email": pref("opt_in")}}, "print"),           # reminders use reminder consents
    ({"reminder": {"email": pref("opt_in")}}, "email"),
    ({"reminder": {"email": pref("opt_in")}, "invoice": {"email": pref("opt_out")}}, "email"),
])
def test_reminder_uses_its_own_consent_category(consents, expected):
    assert decide(person(email="asa@example.se"), consents, "reminder").channel == expected


@pytest.mark.parametrize("consents, expected", [
    ({}, None),                                                  # marketing: never without an opt-in
    ({"marketing": {"print": pref("opt_in")}}, None),            # and never on paper
    ({"marketing": {"email": pref("opt_in")}}, "email"),
    ({"marketing": {"email": pref("opt_out")}, "invoice": {"email": pref("opt_in")}}, None),
    ({"marketing": {"sms": pref("opt_in")}}, "sms"),
    ({"marketing": {"sms": pref("opt_in"), "email": pref("opt_out")}}, "sms"),
])
def test_marketing_needs_an_opt_in_per_channel(consents, expected):
    party = person(email="asa@example.se", mobile="0701234567", digital_mailbox="kivra")
    assert decide(party, consents, "marketing").channel == expected


@pytest.mark.parametrize("email_cost, sms_cost, expected", [(0.5, 0.045, "sms"), (0.002, 0.045, "email")])
def test_equal_preference_is_broken_by_cost(email_cost, sms_cost, expected):
    data = RULES.model_dump()
    data["categories"]["marketing"] |= {"person_chain": ["email", "sms"], "equal_preference": [["email", "sms"]],
                                        "quiet_hours": []}
    data["costs"] |= {"email": email_cost, "sms": sms_cost}
    rules = TenantRules.model_validate(data)
    consents = {"marketing": {"email": pref("opt_in"), "sms": pref("opt_in")}}
    party = person(email="asa@example.se", mobile="0701234567")
    decision = choose_channel(party, consents, rules, "marketing", now=NOON)
    assert decision.channel == expected
    assert {r["channel"] for r in decision.rules} == {"email", "sms"}


@pytest.mark.parametrize("category", ["invoice", "reminder", "marketing", "service"])
def test_do_not_contact_suppresses_every_category(category):
    consents = {category: {"email": pref("opt_in")}}
    decision = decide(person(email="asa@example.se"), consents, category, do_not_contact=True)
    assert decision.channel is None and "do-not-contact" in decision.reason


def test_bounced_address_is_suppressed_until_it_changes():
    consents = {"invoice": {"email": pref("opt_in")}}
    bounced = {address_hash(b"demo", "email", "asa@example.se"): "01 Oct 2026"}
    decision = decide(person(email="asa@example.se"), consents, suppressed=bounced)
    assert decision.channel == "print"
    assert {"channel": "email", "rule": "suppressed", "detail": "01 Oct 2026"} in decision.rules
    assert decide(person(email="asa.new@example.se"), consents, suppressed=bounced).channel == "email"


def test_mailbox_unknown_to_the_provider_moves_down_the_chain():
    consents = {"invoice": {"email": pref("opt_in")}}
    party = person(digital_mailbox="kivra", email="asa@example.se")
    assert decide(party, consents, mailbox_registered=True).channel == "mailbox"
    decision = decide(party, consents, mailbox_registered=False)
    assert decision.channel == "email"
    assert {"channel": "mailbox", "rule": "mailbox_user_unknown", "detail": ""} in decision.rules


@pytest.mark.parametrize("sent, expected", [(0, "email"), (1, "email"), (2, None), (5, None)])
def test_marketing_cap_counts_earlier_sends(sent, expected):
    consents = {"marketing": {"email": pref("opt_in")}}
    decision = decide(person(email="asa@example.se"), consents, "marketing", sent_recently=sent)
    assert decision.channel == expected
    if expected is None:
        assert "frequency cap" in decision.reason


@pytest.mark.parametrize("now, country, state", [
    (NOON, "SE", "planned"), (NIGHT, "SE", "scheduled"), (NIGHT, "FI", "scheduled"),
    (datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc), "SE", "planned"),   # 20:30 Stockholm
    (datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc), "FI", "scheduled"),  # 21:30 Helsinki
    (datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc), "SE", "scheduled"),   # 07:30 Stockholm
    (datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc), "SE", "planned"),      # 08:00 Stockholm
])
def test_quiet_hours_schedule_sms_in_the_customers_time_zone(now, country, state):
    party = person(country=country, mobile="+46701234567" if country == "SE" else "+358401234567",
                   postal_code="111 22" if country == "SE" else "00100")
    decision = decide(party, {"marketing": {"sms": pref("opt_in")}}, "marketing", now=now)
    assert (decision.channel, decision.state) == ("sms", state)
    if state == "scheduled":
        assert "quiet hours: scheduled for" in decision.reason and "08:00" in decision.reason


def test_quiet_hours_leave_email_alone():
    decision = decide(person(email="asa@example.se"), {"marketing": {"email": pref("opt_in")}}, "marketing",
                      now=NIGHT)
    assert (decision.channel, decision.state) == ("email", "planned")


@pytest.mark.parametrize("party, consents, companion", [
    (person(digital_mailbox="kivra", mobile="0701234567"), {"service": {"sms": pref("opt_in")}}, "sms"),
    (person(digital_mailbox="kivra", mobile="0701234567"), {"invoice": {"sms": pref("opt_in")}}, None),
    (person(digital_mailbox="kivra", mobile="0701234567"), {}, None),
    (person(digital_mailbox="kivra", email="a@example.se"), {"service": {"email": pref("opt_in")}}, "email"),
    (person(email="a@example.se"), {"invoice": {"email": pref("opt_in")}, "service": {"email": pref("opt_in")}},
     None),                                                                   # e-mail primary: no notice
    (person(digital_mailbox="kivra", mobile="123"), {"service": {"sms": pref("opt_in")}}, None),
])
def test_companion_notice_only_with_opt_in_and_never_the_primary(party, consents, companion):
    decision = decide(party, consents)
    assert decision.companion == companion
    assert decision.companion != decision.channel


def test_excluded_channel_moves_down_the_chain():
    party = person(digital_mailbox="kivra", email="asa@example.se")
    consents = {"invoice": {"email": pref("opt_in")}}
    assert decide(party, consents, exclude={"mailbox"}).channel == "email"
    assert decide(party, consents, exclude={"mailbox", "email"}).channel == "print"


def test_reason_says_why_and_names_no_personal_data():
    decision = decide(person(email="asa@example.se"), {"invoice": {"email": pref("opt_in")}})
    assert decision.reason == "e-mail: opted in on 01 Jan 2025 via web, and reachable"
    assert [r["rule"] for r in decision.rules] == ["consumer_einvoice", "no_mailbox", "opted_in"]
    assert "asa@example.se" not in str(decision.rules)


def test_unreachable_reason_lists_every_channel():
    decision = decide(person(street=None, email="asa@example.se"), {"invoice": {"email": pref("opt_out")}})
    assert decision.channel is None
    assert decision.reason.startswith("no channel allowed") and "street missing" in decision.reason


def test_finnish_consumer_with_bank_einvoice_address_gets_finvoice_route():
    from omnibill.decide.single import choose_channel as choose

    base = dict(customer_id="C9", customer_type="person", name="Matti Meikäläinen", country="FI", language="fi",
                street="Katu 1", postal_code="00100", city="Helsinki")
    bank = dict(einvoice_address="FI4819503000000010", einvoice_operator="NDEAFIHH")
    assert choose(Party(**(base | bank)), {}, RULES, "invoice").channel == "einvoice"
    opted_out = {"invoice": {"einvoice": pref("opt_out")}}
    assert choose(Party(**(base | bank)), opted_out, RULES, "invoice").channel == "print"
    assert choose(Party(**(base | {"einvoice_address": "FI4819503000000010"})), {}, RULES, "invoice").channel == "print"
    swede = base | bank | {"country": "SE", "postal_code": "111 22"}
    assert choose(Party(**swede), {}, RULES, "invoice").channel != "einvoice"
